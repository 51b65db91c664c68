import * as RadixCheckbox from '@radix-ui/react-checkbox';

/** CheckboxProps configure a checkbox whose label is given for assistive tech. */
export interface CheckboxProps {
  checked: boolean | 'indeterminate';
  onCheckedChange(checked: boolean): void;
  label: string;
  disabled?: boolean;
  /** id lets a visible <label htmlFor> name the checkbox too. */
  id?: string;
}

/** Checkbox is a Radix checkbox labelled by aria-label (table row selection). */
export function Checkbox({ checked, onCheckedChange, label, disabled, id }: CheckboxProps) {
  return (
    <RadixCheckbox.Root
      id={id}
      className="checkbox"
      checked={checked}
      onCheckedChange={(c) => onCheckedChange(c === true)}
      aria-label={label}
      disabled={disabled}
    >
      <RadixCheckbox.Indicator className="checkbox-indicator" aria-hidden="true">
        {checked === 'indeterminate' ? '–' : '✓'}
      </RadixCheckbox.Indicator>
    </RadixCheckbox.Root>
  );
}
