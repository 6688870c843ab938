// Runs first: any script error later on is written to <body data-error>, where tests look for it.
(function () {
  function report(message) {
    var body = document.body;
    if (body && !body.hasAttribute('data-error')) body.setAttribute('data-error', String(message));
  }
  window.addEventListener('error', function (event) { report(event.message || 'script error'); });
  window.addEventListener('unhandledrejection', function (event) { report('unhandled rejection: ' + event.reason); });
})();
