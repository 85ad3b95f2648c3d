// Progressive enhancement only: every page reads and works without it.
// j / k move between the changes of a diff; pickers submit when changed.
(function () {
  "use strict";
  function changes() { return Array.prototype.slice.call(document.querySelectorAll(".chg")); }
  var at = -1;
  function go(step) {
    var list = changes();
    if (!list.length) return;
    if (at >= 0 && list[at]) list[at].classList.remove("current");
    at = Math.max(0, Math.min(list.length - 1, at + step));
    list[at].classList.add("current");
    list[at].scrollIntoView({block: "center"});
  }
  document.addEventListener("keydown", function (e) {
    var t = e.target && e.target.tagName;
    if (t === "INPUT" || t === "SELECT" || t === "TEXTAREA" || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "j" || e.key === "n") { go(1); e.preventDefault(); }
    if (e.key === "k" || e.key === "p") { go(-1); e.preventDefault(); }
  });
  document.addEventListener("change", function (e) {
    var el = e.target;
    if (el && el.classList && el.classList.contains("auto") && el.form) el.form.submit();
  });
})();
