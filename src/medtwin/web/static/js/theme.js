// Applied before first paint (classic script in <head>) so the chosen theme never flashes.
(function () {
  var t = null;
  try { t = localStorage.getItem("medtwin.theme"); } catch (e) { /* storage disabled */ }
  document.documentElement.setAttribute("data-theme", t === "light" ? "light" : "dark");
})();
