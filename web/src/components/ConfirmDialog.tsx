import * as AlertDialog from '@radix-ui/react-alert-dialog';
import { useState, type ReactNode } from 'react';
import { describeError } from '../api/errors';

/** ConfirmDialogProps configure a destructive-action confirmation. */
export interface ConfirmDialogProps {
  open: boolean;
  onOpenChange(open: boolean): void;
  title: string;
  description: ReactNode;
  confirmLabel: string;
  /** onConfirm runs the action; the dialog closes when it resolves and shows the error if it throws. */
  onConfirm(): Promise<unknown> | void;
  destructive?: boolean;
}

/** ConfirmDialog asks before an action that cannot be taken back (Radix AlertDialog). */
export function ConfirmDialog({ open, onOpenChange, title, description, confirmLabel, onConfirm, destructive = true }: ConfirmDialogProps) {
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const change = (o: boolean) => {
    if (!o) setError(null);
    onOpenChange(o);
  };
  return (
    <AlertDialog.Root open={open} onOpenChange={change}>
      <AlertDialog.Portal>
        <AlertDialog.Overlay className="overlay" />
        <AlertDialog.Content className="dialog dialog-narrow">
          <AlertDialog.Title className="dialog-title">{title}</AlertDialog.Title>
          <AlertDialog.Description asChild>
            <div className="dialog-desc">{description}</div>
          </AlertDialog.Description>
          {error && (
            <p className="form-error" role="alert">
              {error}
            </p>
          )}
          <div className="dialog-actions">
            <AlertDialog.Cancel className="button button-secondary">Cancel</AlertDialog.Cancel>
            <button
              type="button"
              className={`button ${destructive ? 'button-danger' : 'button-primary'}`}
              disabled={pending}
              onClick={async () => {
                setPending(true);
                setError(null);
                try {
                  await onConfirm();
                  change(false);
                } catch (err) {
                  setError(describeError(err));
                } finally {
                  setPending(false);
                }
              }}
            >
              {pending ? 'Working…' : confirmLabel}
            </button>
          </div>
        </AlertDialog.Content>
      </AlertDialog.Portal>
    </AlertDialog.Root>
  );
}
