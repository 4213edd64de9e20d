/* Turf coordinator login: the login page's only script, no libraries.
 *
 * The form works without it (a plain POST to /auth/login, answered with a
 * redirect to the dashboard). With it, the form is sent asking for JSON, so
 * a refused login shows a clear message on this page instead of a bare
 * error, and a good one opens the dashboard. Dutch by default, English with
 * the same switch (and the same remembered choice) as the dashboard. */
'use strict';
(function () {
  const TEXT = {
    nl: {
      title: 'Turf — inloggen', heading: 'Inloggen voor coördinatoren',
      intro: 'Log in met de gegevens die je van de beheerder kreeg.',
      login: 'Gebruikersnaam', password: 'Wachtwoord', submit: 'Inloggen', busy: 'Bezig…',
      switch_lang: 'Switch to English', other_lang: 'EN',
      wrong: 'Gebruikersnaam of wachtwoord klopt niet. Probeer het opnieuw.',
      busy_server: 'De server is even druk. Probeer het over een paar seconden opnieuw.',
      too_many: 'Te veel inlogpogingen achter elkaar. Wacht een minuut en probeer het dan opnieuw.',
      failed: 'Inloggen lukte niet (%s). Probeer het opnieuw.',
      offline: 'Geen verbinding met de server.',
    },
    en: {
      title: 'Turf — log in', heading: 'Coordinator login',
      intro: 'Log in with the details your administrator gave you.',
      login: 'Login', password: 'Password', submit: 'Log in', busy: 'Logging in…',
      switch_lang: 'Schakel naar Nederlands', other_lang: 'NL',
      wrong: 'Wrong login or password. Please try again.',
      busy_server: 'The server is busy. Try again in a few seconds.',
      too_many: 'Too many login attempts in a row. Wait a minute, then try again.',
      failed: 'Could not log in (%s). Please try again.',
      offline: 'No connection to the server.',
    },
  };
  const params = new URLSearchParams(location.search);
  let lang = params.get('lang') || localStorage.getItem('turf.lang') || 'nl';
  if (!TEXT[lang]) lang = 'nl';
  const t = (key, arg) => TEXT[lang][key].replace('%s', arg === undefined ? '' : String(arg));
  let errorKey = null, errorArg;

  function showError(key, arg) {
    errorKey = key;
    errorArg = arg;
    const el = document.getElementById('login-error');
    el.hidden = !key;
    el.textContent = key ? t(key, arg) : '';
  }

  function applyLanguage() {
    document.documentElement.lang = lang;
    document.title = t('title');
    for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.getAttribute('data-i18n'));
    const btn = document.getElementById('lang');
    btn.textContent = t('other_lang');
    btn.setAttribute('aria-label', t('switch_lang'));
    if (errorKey) showError(errorKey, errorArg);
  }

  async function submit(ev) {
    ev.preventDefault();
    const form = ev.target;
    const button = document.getElementById('login-submit');
    button.disabled = true;
    button.textContent = t('busy');
    showError(null);
    try {
      const res = await fetch('/auth/login', {
        method: 'POST',
        headers: { Accept: 'application/json' },
        body: new URLSearchParams(new FormData(form)),
        credentials: 'same-origin',
      });
      if (res.ok) {
        location.assign('/' + (params.get('lang') ? '?lang=' + encodeURIComponent(lang) : ''));
        return;
      }
      if (res.status === 401) showError('wrong');
      else if (res.status === 503) showError('busy_server');
      else if (res.status === 429) showError('too_many');
      else showError('failed', res.status);
      const pw = document.getElementById('password');
      pw.value = '';
      pw.focus();
    } catch (e) {
      showError('offline');
    }
    button.disabled = false;
    button.textContent = t('submit');
  }

  document.addEventListener('DOMContentLoaded', () => {
    document.getElementById('lang').addEventListener('click', () => {
      lang = lang === 'nl' ? 'en' : 'nl';
      localStorage.setItem('turf.lang', lang);
      applyLanguage();
    });
    document.getElementById('login-form').addEventListener('submit', submit);
    applyLanguage();
    document.body.dataset.ready = '1';
  });
})();
