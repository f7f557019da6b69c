// tiport's web UI: the little that needs a script (no framework, no build step). Every page
// works without it; this file only adds to forms and lists.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // The workspace switcher submits on change when a script runs; its button stays for those
  // without one.
  const choice = document.getElementById("workspace-choice");
  if (choice && choice.form) {
    choice.addEventListener("change", () => choice.form.submit());
  }
});
