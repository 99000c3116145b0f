// Draws the result pages' charts with the vendored Chart.js. Each <canvas data-chart="ID"> reads its spec from the
// <script type="application/json" id="ID"> block beside it (CSP allows data blocks, not inline code). Charts inside
// closed <details> are drawn when opened; htmx swaps are drawn after they settle. Not colour alone: flagged bars and
// the evaluation series are hatched, thresholds are dashed lines named in the legend under the chart.
(function () {
  "use strict";
  if (window.rimeCharts || typeof window.Chart === "undefined") return;

  const INK = "#1d2330";
  const SEVERITY_COLORS = { alert: "#b42318", warning: "#b54708", pass: "#067647", skipped: "#667085", error: "#344054" };
  const SERIES_COLORS = ["#2b59c3", "#7a4fb5", "#0e7c86", "#9a6700"];

  function pattern(color, kind) {
    const tile = document.createElement("canvas");
    tile.width = tile.height = 8;
    const g = tile.getContext("2d");
    g.fillStyle = kind === "solid" ? color : "#ffffff";
    g.fillRect(0, 0, 8, 8);
    g.strokeStyle = color;
    g.fillStyle = color;
    g.lineWidth = 2;
    if (kind === "hatch") {
      g.beginPath(); g.moveTo(0, 8); g.lineTo(8, 0); g.moveTo(-2, 2); g.lineTo(2, -2); g.moveTo(6, 10); g.lineTo(10, 6); g.stroke();
    } else if (kind === "dots") {
      g.beginPath(); g.arc(4, 4, 2, 0, 2 * Math.PI); g.fill();
    }
    return g.createPattern(tile, "repeat");
  }

  // Threshold and overall lines, and 95 % interval whiskers, drawn over the bars.
  const overlay = {
    id: "rimeOverlay",
    afterDatasetsDraw(chart, _args, options) {
      const { ctx, chartArea, scales } = chart;
      if (!scales.y) return;
      ctx.save();
      ctx.strokeStyle = INK;
      ctx.lineWidth = 2;
      (options.lines || []).forEach((line) => {
        const y = scales.y.getPixelForValue(line.value);
        ctx.setLineDash(line.dash ? [7, 5] : []);
        ctx.beginPath(); ctx.moveTo(chartArea.left, y); ctx.lineTo(chartArea.right, y); ctx.stroke();
      });
      ctx.setLineDash([]);
      ctx.lineWidth = 1.5;
      chart.data.datasets.forEach((dataset, index) => {
        if (!dataset.intervals) return;
        chart.getDatasetMeta(index).data.forEach((bar, i) => {
          const interval = dataset.intervals[i];
          if (!interval || interval[0] == null || interval[1] == null) return;
          const low = scales.y.getPixelForValue(interval[0]);
          const high = scales.y.getPixelForValue(interval[1]);
          const half = Math.min(8, (bar.width || 16) / 4);
          ctx.beginPath();
          ctx.moveTo(bar.x, low); ctx.lineTo(bar.x, high);
          ctx.moveTo(bar.x - half, low); ctx.lineTo(bar.x + half, low);
          ctx.moveTo(bar.x - half, high); ctx.lineTo(bar.x + half, high);
          ctx.stroke();
        });
      });
      ctx.restore();
    },
  };

  function percentTick(value) { return (value * 100).toFixed(Math.abs(value) < 0.1 && value !== 0 ? 1 : 0) + "%"; }

  function barConfig(spec) {
    const lines = spec.lines || [];
    let top = 0;
    const datasets = (spec.series || []).map((series, index) => {
      const color = SERIES_COLORS[index % SERIES_COLORS.length];
      const flagged = series.flagged || [];
      (series.values || []).forEach((v) => { if (v != null) top = Math.max(top, v); });
      (series.intervals || []).forEach((iv) => { if (iv && iv[1] != null) top = Math.max(top, iv[1]); });
      return {
        label: series.label,
        data: series.values,
        intervals: series.intervals,
        backgroundColor: flagged.length
          ? flagged.map((isFlagged) => pattern(color, isFlagged ? "hatch" : "solid"))
          : pattern(color, series.pattern || "solid"),
        borderColor: color,
        borderWidth: 1,
      };
    });
    lines.forEach((line) => { top = Math.max(top, line.value); });
    const tick = spec.percent ? percentTick : undefined;
    return {
      type: "bar",
      data: { labels: spec.labels, datasets },
      plugins: [overlay],
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        scales: {
          x: { title: { display: !!spec.x_label, text: spec.x_label }, ticks: { autoSkip: true, maxRotation: 60 } },
          // Shares stop at 100 % rather than at the next round tick above it.
          y: { beginAtZero: true, suggestedMax: top * 1.08 || 1, max: spec.percent && top <= 1 && top > 0.85 ? 1 : undefined,
               title: { display: !!spec.y_label, text: spec.y_label },
               ticks: tick ? { callback: tick } : {} },
        },
        plugins: {
          rimeOverlay: { lines },
          legend: { display: datasets.length > 1 },
          tooltip: spec.percent ? { callbacks: { label: (item) => `${item.dataset.label}: ${percentTick(item.raw)}` } } : {},
        },
      },
    };
  }

  function donutConfig(spec) {
    const kinds = { alert: "hatch", warning: "dots", pass: "solid" };
    return {
      type: "doughnut",
      data: {
        labels: spec.labels.map((label, i) => `${label}: ${spec.values[i]}`),
        datasets: [{
          data: spec.values,
          backgroundColor: spec.severities.map((s) => pattern(SEVERITY_COLORS[s] || INK, kinds[s] || "solid")),
          borderColor: spec.severities.map((s) => SEVERITY_COLORS[s] || INK),
          borderWidth: 2,
        }],
      },
      options: { animation: false, responsive: true, maintainAspectRatio: false, cutout: "60%",
                 plugins: { legend: { position: "right" } } },
    };
  }

  function draw(canvas) {
    // Charts in closed <details> wait until opened: a long test page or the offline report draws only what shows.
    if (canvas.dataset.drawn || canvas.closest("details:not([open])") || canvas.offsetParent === null) return;
    const source = document.getElementById(canvas.dataset.chart);
    if (!source) return;
    const spec = JSON.parse(source.textContent);
    new window.Chart(canvas, spec.kind === "donut" ? donutConfig(spec) : barConfig(spec));
    canvas.dataset.drawn = "true";
  }

  function drawAll(root) {
    (root || document).querySelectorAll("canvas[data-chart]").forEach(draw);
  }

  // "toggle" does not bubble; listening in the capture phase catches every <details>.
  document.addEventListener("toggle", (event) => { if (event.target.open) drawAll(event.target); }, true);
  document.addEventListener("htmx:afterSettle", (event) => drawAll(event.target));
  // Swapped-out canvases release their Chart; a page restored from htmx's history cache has blank canvases.
  document.addEventListener("htmx:beforeCleanupElement", (event) => {
    const chart = event.target.matches && event.target.matches("canvas[data-chart]") && window.Chart.getChart(event.target);
    if (chart) chart.destroy();
  });
  document.addEventListener("htmx:historyRestore", () => {
    document.querySelectorAll("canvas[data-chart][data-drawn]").forEach((canvas) => { delete canvas.dataset.drawn; });
    drawAll(document);
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => drawAll(document));
  } else {
    drawAll(document);
  }
  window.rimeCharts = { drawAll };
})();
