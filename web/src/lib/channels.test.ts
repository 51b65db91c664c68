import { describe, expect, it } from 'vitest';
import { parseModelMap, splitModels, validateChannel, type ChannelForm } from './channels';

const ok: ChannelForm = {
  name: 'azure-east',
  type: 'AZURE',
  baseURL: 'https://r.openai.azure.com',
  apiKey: '',
  apiVersion: '2024-10-21',
  models: 'gpt-4o, gpt-4o-mini',
  modelMap: 'gpt-4o=my-deployment',
  priority: '10',
  weight: '3',
  rpm: '',
  tpm: '0',
  enabled: true,
};

describe('validateChannel', () => {
  it('accepts a good channel', () => {
    expect(validateChannel(ok)).toEqual({});
  });
  it.each([
    ['name', { name: ' ' }],
    ['name', { name: 'a\nb' }],
    ['baseURL', { baseURL: 'file:///etc/passwd' }],
    ['baseURL', { baseURL: 'https://u:p@x.example/v1' }],
    ['weight', { weight: '-1' }],
    ['rpm', { rpm: '1.5' }],
    ['modelMap', { modelMap: 'gpt-4o' }],
    ['modelMap', { modelMap: 'a=b\na=c' }],
    ['apiVersion', { apiVersion: '2024?x' }],
  ])('refuses a bad %s', (field, edit) => {
    expect(Object.keys(validateChannel({ ...ok, ...edit }))).toEqual([field]);
  });
});

describe('parsing', () => {
  it('splits models on commas and lines', () => {
    expect(splitModels('a, b\nc,,')).toEqual(['a', 'b', 'c']);
  });
  it('reads mappings', () => {
    expect(parseModelMap('a = b\n\nc=d')).toEqual([
      { from: 'a', to: 'b' },
      { from: 'c', to: 'd' },
    ]);
  });
});
