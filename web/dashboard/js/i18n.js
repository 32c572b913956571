// English and Simplified Chinese. Strings are written in English in the code and looked up
// here for Chinese; the choice is kept in localStorage.
import { ZH } from './zh.js';

const KEY = 'starling.lang';
export const LANGS = [['en', 'English'], ['zh', '简体中文']];

export function lang() {
  const saved = localStorage.getItem(KEY);
  if (saved) return saved;
  return (navigator.language || '').toLowerCase().startsWith('zh') ? 'zh' : 'en';
}
export function setLang(code) { localStorage.setItem(KEY, code); }

const EN = {
  PASSWORD_RULES: '8 to 64 characters, with at least two of: letters, digits, other characters; not the username, and not the default password',
};

export function t(s) {
  if (lang() === 'zh' && ZH[s] !== undefined) return ZH[s];
  return EN[s] ?? s;
}
