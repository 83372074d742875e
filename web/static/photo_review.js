// The review page of a visit photo (web/templates/photo_review.html): draw boxes over what
// identifies with a mouse or a finger (pointer events), see the suggested face boxes,
// remove any; the form sends the boxes in the photo's own pixels as JSON. The server
// fills them (graphsvc/photos.py): what is drawn here is only the reviewer's picture of it.
(function () {
  "use strict";
  var root = document.getElementById("photo-review");
  if (!root) return;
  var img = document.getElementById("photo-img");
  var canvas = document.getElementById("photo-boxes");
  var input = document.getElementById("boxes");
  var list = document.getElementById("box-list");
  var ctx = canvas.getContext("2d");
  var W = Number(root.dataset.width), H = Number(root.dataset.height), MAX = Number(root.dataset.max);
  var boxes = [];
  try {
    boxes = JSON.parse(root.dataset.suggestions || "[]").map(function (b) { return { b: b, suggested: true }; });
  } catch (e) { boxes = []; }
  var drag = null;

  function fit() {
    var r = img.getBoundingClientRect();
    canvas.width = Math.max(1, Math.round(r.width));
    canvas.height = Math.max(1, Math.round(r.height));
    draw();
  }
  function toCanvas(v, horizontal) { return v * (horizontal ? canvas.width / W : canvas.height / H); }
  function rect(b, fill, stroke) {
    var x = toCanvas(b[0], true), y = toCanvas(b[1], false), w = toCanvas(b[2], true), h = toCanvas(b[3], false);
    if (fill) { ctx.fillStyle = fill; ctx.fillRect(x, y, w, h); }
    ctx.strokeStyle = stroke; ctx.lineWidth = 2; ctx.strokeRect(x, y, w, h);
  }
  function draw() {
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    boxes.forEach(function (x) { rect(x.b, "rgba(0,0,0,0.8)", x.suggested ? "#f5c400" : "#e0362c"); });
    if (drag) { rect(normal(drag), "rgba(0,0,0,0.5)", "#e0362c"); }
  }
  function point(e) {
    var r = canvas.getBoundingClientRect();
    var x = (e.clientX - r.left) * W / r.width, y = (e.clientY - r.top) * H / r.height;
    return { x: Math.min(W, Math.max(0, x)), y: Math.min(H, Math.max(0, y)) };
  }
  function normal(d) {
    var x = Math.floor(Math.min(d.x0, d.x1)), y = Math.floor(Math.min(d.y0, d.y1));
    var r = Math.min(W, Math.ceil(Math.max(d.x0, d.x1))), b = Math.min(H, Math.ceil(Math.max(d.y0, d.y1)));
    return [x, y, r - x, b - y];
  }
  function sync() {
    input.value = JSON.stringify(boxes.map(function (x) { return x.b; }));
    list.textContent = "";
    if (!boxes.length) {
      var empty = document.createElement("li");
      empty.className = "muted";
      empty.textContent = root.dataset.none;
      list.appendChild(empty);
    }
    boxes.forEach(function (x, i) {
      var li = document.createElement("li");
      li.textContent = root.dataset.box.replace("{n}", String(i + 1)) + (x.suggested ? " (" + root.dataset.face + ")" : "");
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "secondary";
      remove.textContent = root.dataset.remove;
      remove.addEventListener("click", function () { boxes.splice(i, 1); sync(); draw(); });
      li.appendChild(remove);
      list.appendChild(li);
    });
  }
  canvas.addEventListener("pointerdown", function (e) {
    if (boxes.length >= MAX) return;
    var p = point(e);
    drag = { x0: p.x, y0: p.y, x1: p.x, y1: p.y };
    canvas.setPointerCapture(e.pointerId);
    e.preventDefault();
  });
  canvas.addEventListener("pointermove", function (e) {
    if (!drag) return;
    var p = point(e);
    drag.x1 = p.x; drag.y1 = p.y;
    draw();
    e.preventDefault();
  });
  function end(e) {
    if (!drag) return;
    var b = normal(drag);
    drag = null;
    // a tap is not a box: at least a few pixels of the photo each way
    if (b[2] >= 3 && b[3] >= 3) boxes.push({ b: b, suggested: false });
    sync(); draw();
    e.preventDefault();
  }
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", function () { drag = null; draw(); });
  window.addEventListener("resize", fit);
  if (img.complete) fit(); else img.addEventListener("load", fit);
  sync();
})();
