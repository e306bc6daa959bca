// Reloads the status page every 30 s, unless one of its forms is being
// filled in (a half-typed kill-switch reason or TOTP code is never lost).
(function () {
  "use strict";
  setInterval(function () {
    var inputs = document.querySelectorAll("input");
    for (var i = 0; i < inputs.length; i++) {
      if (inputs[i].value !== "" || document.activeElement === inputs[i]) {
        return;
      }
    }
    location.reload();
  }, 30000);
})();
