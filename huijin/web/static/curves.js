// Per-step curves of a run (loss, reward, lr, ...) drawn with the vendored uPlot: one small chart per metric.
(function () {
  var data = JSON.parse(document.getElementById("series").textContent);
  var host = document.getElementById("curves");
  var steps = data.step;
  Object.keys(data).forEach(function (key) {
    if (key === "step") return;
    var box = document.createElement("div");
    box.className = "curve";
    box.setAttribute("data-metric", key);
    host.appendChild(box);
    new uPlot({
      title: key, width: 420, height: 220,
      scales: { x: { time: false } },
      axes: [{ label: "step" }, { size: 60, values: function (u, vals) { return vals.map(function (v) { return v == null ? "" : Number(v.toPrecision(3)).toString(); }); } }],
      series: [{ label: "step" }, { label: key, stroke: key === "lr" ? "#54a24b" : key.indexOf("reward") === 0 ? "#f58518" : "#4c78a8", width: 2, points: { show: steps.length < 60 } }],
    }, [steps, data[key]], box);
  });
  document.body.setAttribute("data-curves", String(host.querySelectorAll(".uplot").length));
})();
