/* Small Leaflet helpers of the toolkit's maps: safe tooltips and popups (attribute values are
   always inserted as text, never as HTML), legend, notices, KPI panel, search, measure and
   fullscreen controls. Written for Leaflet 1.9; no other library. */
var qxg = (function () {
  "use strict";
  var searchIndex = [];

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }

  function fmt(v) {
    if (v === null || v === undefined || v === "") { return "—"; }
    if (typeof v === "number") { return Math.abs(v) >= 100 ? v.toFixed(0) : String(Math.round(v * 100) / 100); }
    if (v === true) { return "是"; }
    if (v === false) { return "否"; }
    return String(v);
  }

  function table(props, fields) {
    var t = el("table");
    fields.forEach(function (f) {
      var tr = el("tr");
      tr.appendChild(el("th", null, f[1]));
      tr.appendChild(el("td", null, fmt(props[f[0]])));
      t.appendChild(tr);
    });
    var box = el("div", "qxg-popup");
    box.appendChild(t);
    return box;
  }

  function layer(map, data, opt) {
    var lyr = L.geoJSON(data, {
      interactive: opt.interactive !== false,
      style: function (f) { return f.properties._style || opt.style || {}; },
      pointToLayer: function (f, latlng) {
        var s = f.properties._style || opt.style || {};
        return L.circleMarker(latlng, Object.assign({radius: 6, interactive: opt.interactive !== false}, s));
      },
      onEachFeature: function (f, l) {
        var p = f.properties;
        if (opt.interactive === false) { return; }
        if (opt.tooltip && opt.tooltip.length) {
          var label = el("div");
          opt.tooltip.forEach(function (fl, i) {
            var line = el(i === 0 ? "b" : "div", null, (i === 0 ? "" : fl[1] + "：") + fmt(p[fl[0]]));
            label.appendChild(line);
          });
          l.bindTooltip(label, {sticky: true});
        }
        if (opt.popup && opt.popup.length) { l.bindPopup(table(p, opt.popup), {maxWidth: 360}); }
        if (opt.search && p[opt.search]) { searchIndex.push({name: String(p[opt.search]), layer: l, group: opt.name}); }
      }
    });
    if (opt.show) { lyr.addTo(map); }
    return lyr;
  }

  function box(map, position, cls, build) {
    var C = L.Control.extend({
      onAdd: function () {
        var d = el("div", "qxg-box " + cls);
        build(d);
        L.DomEvent.disableClickPropagation(d);
        L.DomEvent.disableScrollPropagation(d);
        return d;
      }
    });
    return new C({position: position}).addTo(map);
  }

  function title(map, text, sub) {
    return box(map, "topleft", "qxg-title", function (d) {
      d.appendChild(document.createTextNode(text));
      if (sub) { d.appendChild(el("small", null, sub)); }
    });
  }

  function notice(map, lines) {
    return box(map, "bottomleft", "qxg-notice", function (d) {
      lines.forEach(function (t) { d.appendChild(el("div", null, t)); });
    });
  }

  function kpi(map, spec) {
    return box(map, "topright", "qxg-kpi", function (d) {
      d.appendChild(el("div", null, spec.title));
      spec.rows.forEach(function (r) {
        var row = el("div");
        row.appendChild(el("span", null, r.label + "："));
        row.appendChild(el("span", "qxg-big " + (r.ok === true ? "ok" : r.ok === false ? "bad" : "neutral"), r.value));
        if (r.note) { row.appendChild(el("span", null, " " + r.note)); }
        d.appendChild(row);
      });
      if (spec.footer) { d.appendChild(el("div", null, spec.footer)); }
    });
  }

  function legend(map, sections) {
    return box(map, "bottomright", "qxg-legend", function (d) {
      sections.forEach(function (s) {
        d.appendChild(el("h4", null, s.title));
        s.items.forEach(function (it) {
          var row = el("div", "row");
          var sw = el("span", "sw " + (it.kind || "fill"));
          if (it.kind === "line") { sw.style.borderTopColor = it.color; if (it.dash) { sw.style.borderTopStyle = "dashed"; } }
          else { sw.style.background = it.color; if (it.outline) { sw.style.borderColor = it.outline; } }
          row.appendChild(sw);
          row.appendChild(el("span", null, it.label));
          d.appendChild(row);
        });
      });
    });
  }

  function search(map) {
    return box(map, "topleft", "qxg-search", function (d) {
      var input = el("input");
      input.type = "search";
      input.placeholder = "搜索乡镇/名称";
      var list = el("ul");
      d.appendChild(input);
      d.appendChild(list);
      input.addEventListener("input", function () {
        while (list.firstChild) { list.removeChild(list.firstChild); }
        var q = input.value.trim();
        if (!q) { return; }
        searchIndex.filter(function (s) { return s.name.indexOf(q) >= 0; }).slice(0, 12).forEach(function (s) {
          var li = el("li", null, s.name + "（" + s.group + "）");
          li.addEventListener("click", function () {
            var l = s.layer;
            if (l.getBounds) { map.fitBounds(l.getBounds(), {maxZoom: 14}); } else { map.setView(l.getLatLng(), 13); }
            if (l.openPopup) { l.openPopup(); }
          });
          list.appendChild(li);
        });
      });
    });
  }

  function button(map, position, symbol, titleText, onClick) {
    var C = L.Control.extend({
      onAdd: function () {
        var wrap = el("div", "leaflet-bar");
        var a = el("a", "qxg-btn", symbol);
        a.href = "#";
        a.title = titleText;
        a.setAttribute("role", "button");
        L.DomEvent.on(a, "click", function (e) { L.DomEvent.preventDefault(e); L.DomEvent.stopPropagation(e); onClick(a); });
        wrap.appendChild(a);
        return wrap;
      }
    });
    return new C({position: position}).addTo(map);
  }

  function fullscreen(map) {
    return button(map, "topleft", "全", "全屏显示", function () {
      var c = map.getContainer();
      if (document.fullscreenElement) { document.exitFullscreen(); }
      else if (c.requestFullscreen) { c.requestFullscreen(); }
    });
  }

  function measure(map) {
    var on = false, pts = [], line = null, marks = L.layerGroup().addTo(map);
    function reset() { pts = []; marks.clearLayers(); line = null; }
    function total() {
      var s = 0;
      for (var i = 1; i < pts.length; i++) { s += map.distance(pts[i - 1], pts[i]); }
      return s;
    }
    map.on("click", function (e) {
      if (!on) { return; }
      pts.push(e.latlng);
      L.circleMarker(e.latlng, {radius: 3, color: "#222"}).addTo(marks);
      if (line) { line.setLatLngs(pts); } else { line = L.polyline(pts, {color: "#222", dashArray: "4 4"}).addTo(marks); }
      var m = total();
      L.tooltip({permanent: true, direction: "right", className: "qxg-measure-label"})
        .setLatLng(e.latlng).setContent(m >= 1000 ? (m / 1000).toFixed(2) + " km" : m.toFixed(0) + " m").addTo(marks);
    });
    return button(map, "topleft", "测", "测距：点击地图逐点量算，再点按钮结束", function (a) {
      on = !on;
      a.classList.toggle("active", on);
      map.getContainer().style.cursor = on ? "crosshair" : "";
      if (!on) { reset(); }
    });
  }

  function scale(map) {
    return L.control.scale({metric: true, imperial: false, position: "bottomleft"}).addTo(map);
  }

  return {layer: layer, title: title, notice: notice, kpi: kpi, legend: legend, search: search,
          fullscreen: fullscreen, measure: measure, scale: scale};
})();
