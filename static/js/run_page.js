/* The run page (templates/runs_app/run_detail.html): its tabs, and the Metrics tab's charts.
 *
 * Tabs are Bootstrap tabs over server-rendered panes; the URL's #tab-… opens one (and links to
 * a tab elsewhere on the page switch to it). The metric charts (Chart.js, vendored) read
 * runs/<pk>/metrics/data/ and refetch every 5 s until the run is terminal, so they appear when
 * the first point arrives.
 */
(function () {
  "use strict";

  function showTab(hash) {
    const button = hash && document.querySelector('#run-tabs a[href="' + hash + '"]');
    if (button && window.bootstrap) window.bootstrap.Tab.getOrCreateInstance(button).show();
  }

  function tabs() {
    showTab(window.location.hash);
    document.querySelectorAll("#run-tabs a[data-bs-toggle=tab]").forEach(function (a) {
      a.addEventListener("shown.bs.tab", function () { history.replaceState(null, "", a.getAttribute("href")); });
    });
    document.querySelectorAll("a.molexp-tab-link").forEach(function (a) {
      a.addEventListener("click", function (ev) { ev.preventDefault(); showTab(a.getAttribute("href")); });
    });
    const clone = document.getElementById("run-fix-clone");
    const details = document.getElementById("run-clone");
    if (clone && details) clone.addEventListener("click", function () { details.open = true; });
    window.addEventListener("hashchange", function () { showTab(window.location.hash); });
  }

  function metrics() {
    const box = document.getElementById("metric-charts");
    const empty = document.getElementById("metric-empty");
    if (!box || !window.Chart) return;
    const terminal = box.dataset.terminal === "1";
    if (terminal && box.dataset.hasMetrics !== "1") return;
    const charts = {};
    function draw(data) {
      const keys = Object.keys(data.series);
      if (keys.length && empty) empty.hidden = true;
      keys.forEach(function (key) {
        const s = data.series[key];
        const points = s.points.map(function (p) { return {x: p[0], y: p[1]}; });
        const caption = key + (s.total > s.points.length ? " (" + s.points.length + " of " + s.total + " points)" : "");
        let entry = charts[key];
        if (!entry) {
          const wrap = document.createElement("figure");
          wrap.className = "molexp-chart";
          const title = document.createElement("figcaption");
          const canvas = document.createElement("canvas");
          wrap.append(title, canvas);
          box.append(wrap);
          const chart = new window.Chart(canvas, {
            type: "line",
            data: {datasets: [{label: key, data: points, borderColor: "#2f6f8f", backgroundColor: "#2f6f8f",
                               borderWidth: 1.5, pointRadius: points.length > 60 ? 0 : 2}]},
            options: {animation: false, parsing: false, maintainAspectRatio: false,
                      scales: {x: {type: "linear", ticks: {precision: 0}, title: {display: true, text: "step"}}},
                      plugins: {legend: {display: false}}},
          });
          entry = charts[key] = {chart: chart, title: title};
        } else {
          entry.chart.data.datasets[0].data = points;
          entry.chart.update("none");
        }
        entry.title.textContent = caption;
      });
      box.dataset.keys = String(keys.length);
      if (!data.terminal) window.setTimeout(load, 5000);
    }
    function load() {
      fetch(box.dataset.url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(draw)
        .catch(function () { box.textContent = "The metric charts could not be loaded."; });
    }
    load();
  }

  function start() { tabs(); metrics(); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
