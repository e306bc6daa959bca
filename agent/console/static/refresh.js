// Reloads the status page every 30 s, unless one of its forms is being
// filled in (a half-typed kill-switch reason or TOTP code is never lost).
// The reload is marked (?auto=1): the server does not count it as the
// user's activity.
(function () {
  "use strict";
  setInterval(function () {
    var inputs = document.querySelectorAll("input");
    for (var i = 0; i < inputs.length; i++) {
      if (inputs[i].value !== "" || document.activeElement === inputs[i]) {
        return;
      }
    }
    // Marked as the page's own refresh: it keeps the page current but is
    // not activity, so a forgotten tab still reaches the idle timeout.
    location.replace(location.pathname + "?auto=1");
  }, 30000);
})();
