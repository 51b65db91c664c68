import * as Select from '@radix-ui/react-select';
import { useId } from 'react';

/** SelectOption is one choice of a SelectField. Radix forbids "" as a value. */
export interface SelectOption {
  value: string;
  label: string;
}

/** SelectFieldProps configure a labelled select. */
export interface SelectFieldProps {
  label: string;
  value: string;
  options: readonly SelectOption[];
  onChange(value: string): void;
  /** hideLabel keeps the label for screen readers only (toolbars). */
  hideLabel?: boolean;
  disabled?: boolean;
  className?: string;
}

/** SelectField is a labelled Radix Select. */
export function SelectField({ label, value, options, onChange, hideLabel, disabled, className }: SelectFieldProps) {
  const id = useId();
  return (
    <div className={`field ${className ?? ''}`}>
      <span id={id} className={hideLabel ? 'visually-hidden' : 'field-label'}>
        {label}
      </span>
      <Select.Root value={value} onValueChange={onChange} disabled={disabled}>
        <Select.Trigger className="select-trigger" aria-labelledby={id}>
          <Select.Value />
          <Select.Icon className="select-icon" aria-hidden="true">
            ▾
          </Select.Icon>
        </Select.Trigger>
        <Select.Portal>
          <Select.Content className="select-content" position="popper" sideOffset={4}>
            <Select.Viewport>
              {options.map((o) => (
                <Select.Item key={o.value} value={o.value} className="select-item">
                  <Select.ItemText>{o.label}</Select.ItemText>
                  <Select.ItemIndicator className="select-check" aria-hidden="true">
                    ✓
                  </Select.ItemIndicator>
                </Select.Item>
              ))}
            </Select.Viewport>
          </Select.Content>
        </Select.Portal>
      </Select.Root>
    </div>
  );
}
