import * as RadixToast from '@radix-ui/react-toast';
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from 'react';

/** ToastInput is one notification: a short title, optional detail, and its tone. */
export interface ToastInput {
  title: string;
  description?: string;
  tone?: 'success' | 'error' | 'info';
}

type ToastFn = (t: ToastInput) => void;
const ToastContext = createContext<ToastFn>(() => undefined);

/** ToastProvider renders notifications in a polite live region (Radix Toast). */
export function ToastProvider({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<(ToastInput & { id: number })[]>([]);
  const push = useCallback<ToastFn>((t) => {
    setToasts((list) => [...list.slice(-3), { ...t, id: Date.now() + Math.random() }]);
  }, []);
  const value = useMemo(() => push, [push]);
  return (
    <ToastContext.Provider value={value}>
      <RadixToast.Provider swipeDirection="right" duration={6000}>
        {children}
        {toasts.map((t) => (
          <RadixToast.Root
            key={t.id}
            className={`toast toast-${t.tone ?? 'info'}`}
            type={t.tone === 'error' ? 'foreground' : 'background'}
            onOpenChange={(open) => {
              if (!open) setToasts((list) => list.filter((x) => x.id !== t.id));
            }}
          >
            <RadixToast.Title className="toast-title">{t.title}</RadixToast.Title>
            {t.description && <RadixToast.Description className="toast-desc">{t.description}</RadixToast.Description>}
            <RadixToast.Close className="toast-close" aria-label="Dismiss notification">
              ×
            </RadixToast.Close>
          </RadixToast.Root>
        ))}
        <RadixToast.Viewport className="toast-viewport" />
      </RadixToast.Provider>
    </ToastContext.Provider>
  );
}

/** useToast returns the function that shows a notification. */
export function useToast(): ToastFn {
  return useContext(ToastContext);
}
