/* Charts across runs (SPEC §15): templates/runs_app/experiment_charts.html.
 *
 * Data: the page's json_script "chart-data" (runs_app.chart_query, the same as GET /api/runs/series/).
 * Each run: label "<experiment> #N", values/numbers of the varying columns, points [step, time, value]
 * (already downsampled on the server). Drawn with Chart.js (vendored, static/vendor/README.md); the
 * parallel coordinates are drawn on a canvas here. Colour, log scale, smoothing, x and the target of
 * the parallel coordinates are applied in the browser and kept in the URL (history.replaceState).
 */
(function () {
  "use strict";
  const source = document.getElementById("chart-data");
  const canvas = document.getElementById("chart-line");
  if (!source || !canvas) return;
  let data = JSON.parse(source.textContent);
  const form = document.getElementById("chart-form");
  const controls = {
    key: document.getElementById("chart-key"),
    color: document.getElementById("chart-color"),
    x: document.getElementById("chart-x"),
    log: document.getElementById("chart-log"),
    smooth: document.getElementById("chart-smooth"),
    smoothOut: document.getElementById("chart-smooth-out"),
    target: document.getElementById("chart-target"),
  };
  const legend = document.getElementById("chart-legend");
  const note = document.getElementById("chart-note");
  const parallel = document.getElementById("chart-parallel");
  // Tableau 10: distinct, calm, colour-blind friendlier than the defaults.
  const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
  const RAMP = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]]; // viridis stops
  let chart = null;

  function ramp(t) {
    const x = Math.max(0, Math.min(1, t)) * (RAMP.length - 1);
    const i = Math.min(RAMP.length - 2, Math.floor(x));
    const f = x - i;
    const c = RAMP[i].map(function (v, k) { return Math.round(v + (RAMP[i + 1][k] - v) * f); });
    return "rgb(" + c.join(",") + ")";
  }

  /* run id → colour, and the legend's groups [{label, color, count}] */
  function colouring() {
    const key = controls.color ? controls.color.value : "";
    const colours = {};
    const groups = [];
    if (!key) {
      data.runs.forEach(function (r, i) {
        colours[r.id] = PALETTE[i % PALETTE.length];
        groups.push({label: r.label, color: colours[r.id], count: 1});
      });
      return {colours: colours, groups: groups, key: ""};
    }
    const distinct = Array.from(new Set(data.runs.map(function (r) { return r.values[key]; })));
    const numeric = data.runs.every(function (r) { return r.numbers[key] !== null || r.values[key] === ""; });
    if (numeric && distinct.length > PALETTE.length) {
      const nums = data.runs.map(function (r) { return r.numbers[key]; }).filter(function (v) { return v !== null; });
      const lo = Math.min.apply(null, nums), hi = Math.max.apply(null, nums);
      const useLog = lo > 0 && hi / lo > 100;
      const f = function (v) { return useLog ? Math.log(v) : v; };
      data.runs.forEach(function (r) {
        const v = r.numbers[key];
        colours[r.id] = v === null ? "#999" : ramp(hi === lo ? 0.5 : (f(v) - f(lo)) / (f(hi) - f(lo)));
      });
      groups.push({label: key + " " + lo + " … " + hi + (useLog ? " (log)" : ""), color: ramp(0), color2: ramp(1), count: data.runs.length});
      return {colours: colours, groups: groups, key: key};
    }
    if (numeric) distinct.sort(function (a, b) { return Number(a) - Number(b); }); else distinct.sort();
    distinct.forEach(function (value, i) {
      const color = PALETTE[i % PALETTE.length];
      const members = data.runs.filter(function (r) { return r.values[key] === value; });
      members.forEach(function (r) { colours[r.id] = color; });
      groups.push({label: key + " = " + (value === "" ? "(none)" : value), color: color, count: members.length});
    });
    return {colours: colours, groups: groups, key: key};
  }

  /* Debiased exponential moving average (as TensorBoard and W&B): weight w of the past. */
  function smooth(values, w) {
    if (!w) return values;
    let last = 0, n = 0;
    return values.map(function (v) {
      n += 1;
      last = last * w + (1 - w) * v;
      return last / (1 - Math.pow(w, n));
    });
  }

  function datasets(colouringResult) {
    const useTime = controls.x && controls.x.value === "time";
    const w = controls.smooth ? Number(controls.smooth.value) : 0;
    const logY = controls.log && controls.log.checked;
    const sets = [];
    data.runs.forEach(function (r) {
      let pts = r.points.filter(function (p) { return !useTime || p[1] !== null; });
      if (logY) pts = pts.filter(function (p) { return p[2] > 0; });
      if (!pts.length) return;
      const ys = smooth(pts.map(function (p) { return p[2]; }), w);
      const color = colouringResult.colours[r.id];
      sets.push({
        label: r.label,
        runId: r.id,
        group: colouringResult.key ? colouringResult.key + " = " + (r.values[colouringResult.key] || "(none)") : "",
        data: pts.map(function (p, i) { return {x: useTime ? p[1] : p[0], y: ys[i], raw: p[2]}; }),
        borderColor: color,
        backgroundColor: color,
        borderWidth: 1.4,
        pointRadius: pts.length > 40 ? 0 : 2,
        pointHoverRadius: 3,
        tension: 0,
      });
    });
    return sets;
  }

  function timeLabel(ms) {
    const d = new Date(ms);
    const pad = function (n) { return String(n).padStart(2, "0"); };
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }

  function fmt(v) {
    if (typeof v !== "number") return String(v);
    const a = Math.abs(v);
    return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(3) : String(Number(v.toPrecision(6)));
  }

  function drawLegend(c, sets) {
    legend.textContent = "";
    c.groups.forEach(function (g) {
      const li = document.createElement("li");
      const sw = document.createElement("span");
      sw.className = "molexp-swatch";
      sw.style.background = g.color2 ? "linear-gradient(90deg," + g.color + "," + g.color2 + ")" : g.color;
      if (g.color2) sw.style.width = "2.5rem";
      li.append(sw, document.createTextNode(g.label + (c.key && !g.color2 ? " (" + g.count + ")" : "")));
      legend.append(li);
    });
    canvas.dataset.series = String(sets.length);
    canvas.dataset.groups = String(c.groups.length);
    const sampled = data.runs.filter(function (r) { return r.sampled; }).length;
    note.textContent = sets.length + " series" + (sampled ? " · " + sampled + " sampled to ≤ " + data.max_points + " points" : "");
  }

  function drawLine() {
    const c = colouring();
    const sets = datasets(c);
    const useTime = controls.x && controls.x.value === "time";
    const logY = controls.log && controls.log.checked;
    const options = {
      animation: false, parsing: false, normalized: true, maintainAspectRatio: false, spanGaps: true,
      interaction: {mode: "nearest", intersect: false, axis: "xy"},
      scales: {
        x: {type: "linear", title: {display: true, text: useTime ? "wall time" : "step"},
            ticks: {maxTicksLimit: 8, callback: useTime ? function (v) {
              const label = timeLabel(v).slice(11);  // HH:MM:SS, with milliseconds on a span of seconds
              return this.max - this.min < 10000 ? label + "." + String(Math.floor(v % 1000)).padStart(3, "0") : label;
            } : undefined}},
        y: {type: logY ? "logarithmic" : "linear", title: {display: true, text: data.key}},
      },
      plugins: {
        legend: {display: false},
        decimation: {enabled: false},
        tooltip: {callbacks: {
          title: function (items) { return items.length ? items[0].dataset.label : ""; },
          label: function (item) {
            const p = item.raw;
            const xs = useTime ? timeLabel(p.x) : "step " + p.x;
            return [xs + ": " + fmt(p.raw) + (p.raw !== p.y ? " (smoothed " + fmt(p.y) + ")" : "")].concat(item.dataset.group ? [item.dataset.group] : []);
          },
        }},
      },
    };
    if (chart) { chart.destroy(); }
    chart = new window.Chart(canvas, {type: "line", data: {datasets: sets}, options: options});
    drawLegend(c, sets);
    drawParallel(c);
  }

  /* Parallel coordinates: one axis per varying column, then the target (a result or the metric's last value). */
  function drawParallel(c) {
    if (!parallel) return;
    const target = controls.target ? controls.target.value : "";
    const axes = data.columns.filter(function (k) { return k !== target; }).map(function (k) { return {key: k, get: function (r) { return {num: r.numbers[k], text: r.values[k]}; }}; });
    axes.push({key: target || data.key + " (last)", target: true, get: function (r) {
      if (target) return {num: r.numbers[target], text: r.values[target]};
      const last = r.points.length ? r.points[r.points.length - 1][2] : null;
      return {num: last, text: last === null ? "" : fmt(last)};
    }});
    axes.forEach(function (a) {
      const vals = data.runs.map(a.get);
      a.numeric = vals.every(function (v) { return v.num !== null || v.text === ""; }) && vals.some(function (v) { return v.num !== null; });
      if (a.numeric) {
        const nums = vals.map(function (v) { return v.num; }).filter(function (v) { return v !== null; });
        a.lo = Math.min.apply(null, nums); a.hi = Math.max.apply(null, nums);
        a.log = a.lo > 0 && a.hi / a.lo >= 100;
        a.pos = function (v) {
          if (v.num === null) return null;
          if (a.hi === a.lo) return 0.5;
          const f = a.log ? Math.log : function (x) { return x; };
          return (f(v.num) - f(a.lo)) / (f(a.hi) - f(a.lo));
        };
      } else {
        a.cats = Array.from(new Set(vals.map(function (v) { return v.text; }))).sort();
        a.pos = function (v) { return a.cats.length === 1 ? 0.5 : a.cats.indexOf(v.text) / (a.cats.length - 1); };
      }
    });
    const ratio = window.devicePixelRatio || 1;
    const w = parallel.clientWidth, h = parallel.clientHeight;
    parallel.width = w * ratio; parallel.height = h * ratio;
    const ctx = parallel.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, w, h);
    ctx.font = "11px system-ui, sans-serif";
    const left = 60, right = 60, top = 34, bottom = 22;
    const step = axes.length > 1 ? (w - left - right) / (axes.length - 1) : 0;
    const xAt = function (i) { return axes.length > 1 ? left + i * step : w / 2; };
    const yAt = function (p) { return top + (1 - p) * (h - top - bottom); };
    ctx.lineWidth = 1.3;
    ctx.globalAlpha = data.runs.length > 30 ? 0.55 : 0.85;
    data.runs.forEach(function (r) {
      ctx.strokeStyle = c.colours[r.id];
      ctx.beginPath();
      let pen = false;
      axes.forEach(function (a, i) {
        const p = a.pos(a.get(r));
        if (p === null) { pen = false; return; }
        if (pen) ctx.lineTo(xAt(i), yAt(p)); else ctx.moveTo(xAt(i), yAt(p));
        pen = true;
      });
      ctx.stroke();
    });
    ctx.globalAlpha = 1;
    axes.forEach(function (a, i) {
      const x = xAt(i);
      ctx.strokeStyle = "#8a94a3"; ctx.lineWidth = 1;
      ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, h - bottom); ctx.stroke();
      ctx.fillStyle = a.target ? "#1d3d5c" : "#3b4451";
      ctx.textAlign = i === 0 ? "left" : (i === axes.length - 1 ? "right" : "center");
      const name = a.key.length > 24 ? "…" + a.key.slice(-23) : a.key;
      ctx.font = (a.target ? "600 " : "") + "11px system-ui, sans-serif";
      ctx.fillText(name, x, 14);
      ctx.font = "10px system-ui, sans-serif";
      ctx.fillStyle = "#6c757d";
      ctx.textAlign = "left";
      if (a.numeric) {
        ctx.fillText(fmt(a.hi) + (a.log ? " (log)" : ""), x + 4, top + 4);
        ctx.fillText(fmt(a.lo), x + 4, h - bottom);
      } else {
        a.cats.slice(0, 12).forEach(function (cat) { ctx.fillText(cat === "" ? "(none)" : cat.slice(0, 14), x + 4, yAt(a.pos({text: cat})) + 3); });
      }
    });
    parallel.dataset.axes = String(axes.length);
    parallel.dataset.lines = String(data.runs.length);
  }

  function syncUrl() {
    const params = new URLSearchParams(new FormData(form));
    ["color", "target", "smooth"].forEach(function (k) { if (!params.get(k) || params.get(k) === "0") params.delete(k); });
    if (params.get("x") === "step") params.delete("x");
    history.replaceState(null, "", "?" + params.toString());
  }

  function refresh() {
    const params = new URLSearchParams(new FormData(form));
    params.set("experiment", canvas.dataset.experiment);
    fetch(canvas.dataset.api + "?" + params.toString(), {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (fresh) {
        data = fresh;
        drawLine();
        if (fresh.runs.some(function (r) { return ["pending", "queued", "running", "cancelling"].indexOf(r.status) >= 0; })) window.setTimeout(refresh, 5000);
      })
      .catch(function () { note.textContent = "Refreshing the chart failed; reload the page."; });
  }

  function start() {
    if (!window.Chart) return;
    ["color", "x", "log", "target"].forEach(function (k) {
      if (controls[k]) controls[k].addEventListener("change", function () { drawLine(); syncUrl(); });
    });
    if (controls.smooth) controls.smooth.addEventListener("input", function () { controls.smoothOut.textContent = controls.smooth.value; drawLine(); });
    if (controls.smooth) controls.smooth.addEventListener("change", syncUrl);
    if (controls.key) controls.key.addEventListener("change", function () { form.requestSubmit(); });
    window.addEventListener("resize", function () { drawParallel(colouring()); });
    drawLine();
    if (canvas.dataset.active === "1") window.setTimeout(refresh, 5000);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
