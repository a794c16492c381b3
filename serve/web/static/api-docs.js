// Starts Swagger UI on /schema (a file, not inline code: the page's CSP allows scripts from 'self' only).
window.addEventListener("DOMContentLoaded", function () {
  var holder = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({
    url: holder.dataset.specUrl,
    domNode: holder,
    deepLinking: true,
    // No request leaves the site: no online validator badge.
    validatorUrl: null,
  });
});
