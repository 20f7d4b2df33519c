/** Light, dark, or the system's choice; remembered in this browser. */
import { useEffect, useState } from 'preact/hooks';

type Theme = 'auto' | 'light' | 'dark';
const KEY = 'understudy.theme';

/** A button that cycles the theme. */
export function ThemeSwitch() {
  const [theme, setTheme] = useState<Theme>((localStorage.getItem(KEY) as Theme | null) ?? 'auto');
  useEffect(() => {
    if (theme === 'auto') delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = theme;
    localStorage.setItem(KEY, theme);
  }, [theme]);
  const next: Record<Theme, Theme> = { auto: 'light', light: 'dark', dark: 'auto' };
  return (
    <button type="button" class="link" onClick={() => setTheme(next[theme])} aria-label={`theme: ${theme}; switch to ${next[theme]}`}>
      theme: {theme}
    </button>
  );
}
