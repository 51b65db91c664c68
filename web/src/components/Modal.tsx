import * as Dialog from '@radix-ui/react-dialog';
import type { ReactNode } from 'react';

/** ModalProps configure a dialog; Radix supplies focus trap, Escape and aria wiring. */
export interface ModalProps {
  open: boolean;
  onOpenChange(open: boolean): void;
  title: string;
  description?: ReactNode;
  children: ReactNode;
  /** wide widens the panel for forms with several columns. */
  wide?: boolean;
  /** dismissible false keeps the dialog open on outside clicks (a secret on screen). */
  dismissible?: boolean;
}

/** Modal is the app's dialog: an overlay, a titled panel and a close button. */
export function Modal({ open, onOpenChange, title, description, children, wide, dismissible = true }: ModalProps) {
  return (
    <Dialog.Root open={open} onOpenChange={onOpenChange}>
      <Dialog.Portal>
        <Dialog.Overlay className="overlay" />
        <Dialog.Content
          className={`dialog${wide ? ' dialog-wide' : ''}`}
          onPointerDownOutside={dismissible ? undefined : (e) => e.preventDefault()}
          onInteractOutside={dismissible ? undefined : (e) => e.preventDefault()}
        >
          <div className="dialog-head">
            <Dialog.Title className="dialog-title">{title}</Dialog.Title>
            <Dialog.Close className="icon-button" aria-label="Close">
              ×
            </Dialog.Close>
          </div>
          {description ? (
            <Dialog.Description className="dialog-desc">{description}</Dialog.Description>
          ) : (
            <Dialog.Description className="visually-hidden">{title}</Dialog.Description>
          )}
          {children}
        </Dialog.Content>
      </Dialog.Portal>
    </Dialog.Root>
  );
}

/** ModalClose wraps a button that closes the surrounding Modal. */
export const ModalClose = Dialog.Close;
