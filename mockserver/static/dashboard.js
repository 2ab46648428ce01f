// hybridsoa dashboard: the only script. Filters submit as soon as a select or checkbox changes; every form
// also works without JavaScript through its Apply button.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-autosubmit]").forEach(function (el) {
    el.addEventListener("change", function () {
      var form = el.form;
      if (!form) { return; }
      // A new filter starts again at page 1.
      var page = form.querySelector("input[name=page]");
      if (page) { page.remove(); }
      form.submit();
    });
  });
});
