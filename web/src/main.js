// sno dashboard entry: the top bar, the session (GET /api/v1/me) and a
// hash router: #/login, #/fleet (the landing page), #/hosts (the list),
// #/host/{id}; #/ is the fleet. Each view returns
// {el, destroy}; the router destroys the old view before showing a new one.
// uPlot's stylesheet first, so ours (which themes it) wins.
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { h } from './dom.js';
import { api, setUnauthorizedHandler } from './api.js';
import { disconnect } from './live.js';
import { loginView } from './views/login.js';
import { hostsView } from './views/hosts.js';
import { hostView } from './views/host.js';
import { fleetView } from './views/fleet.js';

const root = document.getElementById('app');
let me = null;
let view = null;
let seq = 0;

function topbar(crumb) {
  return h('header', { class: 'topbar' },
    h('a', { class: 'brand', href: '#/fleet' }, h('span', { class: 'logo' }), 'sno'),
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
      h('a', { href: '#/fleet' }, 'Fleet'), h('span', { class: 'sep' }, '·'), h('a', { href: '#/hosts' }, 'Hosts'),
      crumb ? [h('span', { class: 'sep' }, '/'), h('span', {}, crumb)] : null),
    h('span', { class: 'grow' }),
    h('span', { class: 'who muted' }, h('strong', {}, me.user), ` · ${me.account}`),
    h('button', { type: 'button', class: 'btn small', onclick: logout }, 'Sign out'));
}

function show(v, crumb) {
  if (view) view.destroy();
  view = v;
  root.replaceChildren(...(crumb === false ? [v.el] : [topbar(crumb), v.el]));
  if (v.focus) v.focus();
}

async function logout() {
  try {
    await api.logout();
  } catch (e) {
    /* the session is gone either way */
  }
  me = null;
  disconnect();
  location.hash = '#/login';
  route();
}

function toLogin() {
  me = null;
  disconnect();
  show(loginView(async () => {
    me = await api.me();
    if (location.hash === '#/login' || !location.hash) location.hash = '#/fleet';
    else route();
  }), false);
}

async function route() {
  const my = ++seq;
  if (!me) {
    try {
      me = await api.me();
    } catch (e) {
      if (my !== seq) return;
      if (e.status === 401) {
        toLogin();
      } else {
        show({ el: h('main', { class: 'page' }, h('p', { class: 'card error-card' },
          `The relay cannot be reached (${e.message}). `, h('a', { href: '#/', onclick: () => setTimeout(route) }, 'Retry'))), destroy() {} }, false);
      }
      return;
    }
    if (my !== seq) return;
  }
  const hash = location.hash.replace(/^#/, '') || '/';
  const m = /^\/host\/(.+)$/.exec(hash);
  if (hash === '/login') {
    location.replace('#/fleet');
    return;
  }
  if (m) {
    const id = decodeURIComponent(m[1]);
    document.title = `${id} · sno`;
    show(hostView(id, me), id);
  } else if (hash === '/hosts') {
    document.title = 'Hosts · sno';
    show(hostsView(), null);
  } else {
    document.title = 'Fleet · sno';
    show(fleetView(me), null);
  }
}

setUnauthorizedHandler(() => {
  if (me) toLogin();
});
window.addEventListener('hashchange', route);
const dark = window.matchMedia('(prefers-color-scheme: dark)');
dark.addEventListener('change', () => window.dispatchEvent(new Event('sno-theme')));
route();
