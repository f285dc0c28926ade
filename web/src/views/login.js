// Login page: user + password, POST /api/v1/login, then onDone().
import { h } from '../dom.js';
import { api } from '../api.js';

export function loginView(onDone) {
  const user = h('input', { id: 'login-user', name: 'user', autocomplete: 'username', required: true, autofocus: true, spellcheck: 'false', autocapitalize: 'none' });
  const pass = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const msg = h('p', { class: 'form-error', role: 'alert' });
  const btn = h('button', { type: 'submit', class: 'btn primary wide' }, 'Sign in');
  const form = h('form', { class: 'login-card card', onsubmit: submit },
    h('div', { class: 'brand big' }, h('span', { class: 'logo' }), 'sno'),
    h('p', { class: 'muted' }, 'Sign in to watch your hosts live.'),
    h('label', { for: 'login-user' }, 'User'), user,
    h('label', { for: 'login-password' }, 'Password'), pass,
    msg, btn);

  async function submit(e) {
    e.preventDefault();
    msg.textContent = '';
    btn.disabled = true;
    btn.textContent = 'Signing in…';
    try {
      await api.login(user.value.trim(), pass.value);
      await onDone();
    } catch (err) {
      msg.textContent = err.status === 401 ? 'Wrong user or password.'
        : err.status === 429 ? 'Too many attempts. Wait a minute and try again.'
          : err.status === 403 ? 'The relay refused this page\'s origin.'
            : `Sign-in failed: ${err.message}`;
      pass.select();
    } finally {
      btn.disabled = false;
      btn.textContent = 'Sign in';
    }
  }

  return { el: h('main', { class: 'login-page' }, form), destroy() {}, focus: () => user.focus() };
}
