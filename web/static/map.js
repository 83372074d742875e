/* graphsvc: the coordinator's network map (browser side).
 *
 * Reads two JSON blocks written by the server (#map-data, #map-labels), draws them with
 * vis-network (global `vis`, loaded before this file) and wires the toolbar and the
 * details panel. Every piece of user data is written with textContent or as a plain
 * string option of vis (a string `title` is shown as text by vis-network 9): never as HTML.
 * Positions come from the server; physics is never turned on.
 */
(function () {
  "use strict";

  var MAX_EXPAND_MATCHES = 25; // a search opens the branches of at most this many matches
  var READABLE_PX = 10;        // the map opens at a zoom where a label is at least this tall
  var PHONE = "(max-width: 48rem)"; // map.css: one column; the filters start closed

  function byId(id) { return document.getElementById(id); }

  function readJson(id, fallback) {
    var el = byId(id);
    if (!el) { return fallback; }
    try {
      var value = JSON.parse(el.textContent);
      return value && typeof value === "object" ? value : fallback;
    } catch (err) {
      console.error("graphsvc map: unreadable #" + id);
      return fallback;
    }
  }

  // The page's state that is not in its URL (the search on this map, the node shown in the
  // panel) lives in its fragment (#find=…&node=…), so that a reload or another language
  // keeps it.
  function readHash() {
    var out = {};
    String(window.location.hash || "").replace(/^#/, "").split("&").forEach(function (part) {
      var i = part.indexOf("=");
      if (i > 0) {
        try { out[decodeURIComponent(part.slice(0, i))] = decodeURIComponent(part.slice(i + 1)); } catch (err) { /* ignore */ }
      }
    });
    return out;
  }

  // The language links carry the filters as the form holds them now (also those changed
  // but not yet shown) and the fragment: switching language keeps what the map shows.
  function keepFiltersAcrossLanguages() {
    var form = byId("map-filters");
    if (!form) { return; }
    Array.prototype.forEach.call(document.querySelectorAll("nav.lang a[data-lang]"), function (link) {
      link.addEventListener("click", function (event) {
        var params = new URLSearchParams();
        new FormData(form).forEach(function (value, key) {
          if (typeof value === "string" && value.trim() !== "") { params.append(key, value); }
        });
        params.set("lang", link.dataset.lang);
        event.preventDefault();
        window.location.assign(form.getAttribute("action") + "?" + params.toString() + window.location.hash);
      });
    });
  }

  function init() {
    var filtersBox = byId("map-filters-box");
    if (filtersBox && window.matchMedia && window.matchMedia(PHONE).matches) {
      filtersBox.open = false; // on a phone the map comes first; the summary opens the filters
    }
    keepFiltersAcrossLanguages();
    var canvas = byId("map-canvas");
    if (!canvas || typeof vis === "undefined") { return; }

    var data = readJson("map-data", {});
    var labels = readJson("map-labels", {});
    var rawNodes = Array.isArray(data.nodes) ? data.nodes : [];
    var rawEdges = Array.isArray(data.edges) ? data.edges : [];
    var details = data.details && typeof data.details === "object" ? data.details : {};
    var childrenOf = data.children && typeof data.children === "object" ? data.children : {};

    var els = {
      status: byId("map-status"),
      searchForm: byId("map-search"),
      searchInput: byId("map-search-q"),
      searchResult: byId("map-search-result"),
      fit: byId("map-fit"),
      panel: byId("map-details"),
      empty: byId("map-details-empty"),
      title: byId("map-details-title"),
      list: byId("map-details-list"),
      members: byId("map-details-members"),
      link: byId("map-details-link"),
      chain: byId("map-details-chain"),
      centre: byId("map-details-centre"),
      toggle: byId("map-details-toggle")
    };

    function label(key) {
      var text = labels[key];
      return typeof text === "string" ? text : "";
    }
    function withN(key, n) { return label(key).split("{n}").join(String(n)); }
    function setText(el, text) { if (el) { el.textContent = text; } }

    // ---- the tree, keyed by String(id) ---------------------------------------------------
    var realId = new Map();      // key -> the id as vis knows it (number or string)
    var origLabel = new Map();   // key -> label as sent
    var origHidden = new Map();  // key -> hidden as sent
    var order = [];              // keys in the server's order
    rawNodes.forEach(function (n) {
      if (!n || n.id === undefined || n.id === null) { return; }
      var key = String(n.id);
      if (realId.has(key)) { return; }
      realId.set(key, n.id);
      origLabel.set(key, n.label);
      origHidden.set(key, n.hidden === true);
      order.push(key);
    });

    var kids = new Map();   // key -> [child keys] (only existing nodes)
    var parent = new Map(); // child key -> parent key (first parent wins)
    Object.keys(childrenOf).forEach(function (key) {
      var list = childrenOf[key];
      if (!realId.has(key) || !Array.isArray(list)) { return; }
      var out = [];
      list.forEach(function (c) {
        var ck = String(c);
        if (!realId.has(ck) || ck === key || parent.has(ck)) { return; }
        parent.set(ck, key);
        out.push(ck);
      });
      if (out.length) { kids.set(key, out); }
    });
    // Break any cycle a bad input could hold: walk up from each node once.
    (function breakCycles() {
      var state = new Map(); // key -> 1 visiting, 2 done
      order.forEach(function (start) {
        var path = [];
        var k = start;
        while (k !== undefined && !state.has(k)) {
          state.set(k, 1);
          path.push(k);
          k = parent.get(k);
        }
        if (k !== undefined && state.get(k) === 1) { // a cycle: cut the edge into k
          var p = parent.get(k);
          parent.delete(k);
          var siblings = kids.get(p);
          if (siblings) { siblings.splice(siblings.indexOf(k), 1); }
        }
        path.forEach(function (x) { state.set(x, 2); });
      });
    })();

    // Descendant counts, computed on demand (iterative, each subtree once).
    var descCount = new Map();
    function countDescendants(key) {
      if (descCount.has(key)) { return descCount.get(key); }
      var stack = [key];
      var post = [];
      while (stack.length) {
        var k = stack.pop();
        post.push(k);
        var cs = kids.get(k);
        if (cs) {
          for (var i = 0; i < cs.length; i++) {
            if (!descCount.has(cs[i])) { stack.push(cs[i]); }
          }
        }
      }
      for (var j = post.length - 1; j >= 0; j--) {
        var node = post[j];
        if (descCount.has(node)) { continue; }
        var total = 0;
        var children = kids.get(node);
        if (children) {
          for (var m = 0; m < children.length; m++) { total += 1 + (descCount.get(children[m]) || 0); }
        }
        descCount.set(node, total);
      }
      return descCount.get(key);
    }

    var collapsed = new Set();
    (Array.isArray(data.collapsed) ? data.collapsed : []).forEach(function (id) {
      var key = String(id);
      if (kids.has(key)) { collapsed.add(key); }
    });

    function blockedByAncestor(key) { // is some proper ancestor collapsed?
      var p = parent.get(key);
      while (p !== undefined) {
        if (collapsed.has(p)) { return true; }
        p = parent.get(p);
      }
      return false;
    }

    function labelFor(key) {
      var base = origLabel.get(key);
      if (!collapsed.has(key)) { return base; }
      var n = countDescendants(key);
      if (!n) { return base; }
      var suffix = withN("hidden_children", n);
      return base === undefined || base === null || base === "" ? suffix : String(base) + " " + suffix;
    }

    // ---- visibility state ------------------------------------------------------------------
    var nodeHidden = new Map(); // key -> boolean, as currently in the DataSet
    var visibleCount = 0;
    (function initialVisibility() {
      var blocked = new Map();
      order.forEach(function (key) {
        if (parent.has(key)) { return; }
        var stack = [key];
        blocked.set(key, false);
        while (stack.length) {
          var k = stack.pop();
          var cs = kids.get(k);
          if (!cs) { continue; }
          var b = blocked.get(k) || collapsed.has(k);
          for (var i = 0; i < cs.length; i++) { blocked.set(cs[i], b); stack.push(cs[i]); }
        }
      });
      order.forEach(function (key) {
        var hidden = origHidden.get(key) || blocked.get(key) === true;
        nodeHidden.set(key, hidden);
        if (!hidden) { visibleCount += 1; }
      });
    })();

    var edgeKey = new Map();     // edge id key -> real edge id
    var edgeEnds = new Map();    // edge key -> [from key, to key]
    var edgeOrigHidden = new Map();
    var edgeHidden = new Map();
    var incident = new Map();    // node key -> [edge keys]
    var edgeSeq = 0;
    var edgeItems = [];
    function edgeShouldHide(ek) {
      var ends = edgeEnds.get(ek);
      return edgeOrigHidden.get(ek) || nodeHidden.get(ends[0]) === true || nodeHidden.get(ends[1]) === true;
    }
    rawEdges.forEach(function (e) {
      if (!e) { return; }
      var item = Object.assign({}, e);
      if (item.id === undefined || item.id === null) { item.id = "graphsvc-edge-" + (edgeSeq++); }
      var ek = String(item.id);
      if (edgeKey.has(ek)) { return; }
      edgeKey.set(ek, item.id);
      var from = String(item.from);
      var to = String(item.to);
      edgeEnds.set(ek, [from, to]);
      edgeOrigHidden.set(ek, item.hidden === true);
      [from, to].forEach(function (nk) {
        var list = incident.get(nk);
        if (!list) { list = []; incident.set(nk, list); }
        list.push(ek);
      });
      var hide = edgeShouldHide(ek);
      edgeHidden.set(ek, hide);
      item.hidden = hide;
      edgeItems.push(item);
    });

    var nodeItems = [];
    var seen = new Set();
    rawNodes.forEach(function (n) {
      if (!n || n.id === undefined || n.id === null) { return; }
      var key = String(n.id);
      if (seen.has(key)) { return; }
      seen.add(key);
      var item = Object.assign({}, n);
      item.hidden = nodeHidden.get(key);
      if (collapsed.has(key)) { item.label = labelFor(key); }
      nodeItems.push(item);
    });

    var nodes = new vis.DataSet(nodeItems);
    var edges = new vis.DataSet(edgeItems);
    var options = data.options && typeof data.options === "object" ? data.options : {};
    var network = new vis.Network(canvas, { nodes: nodes, edges: edges }, options);
    window.graphsvcMap = { network: network, nodes: nodes, edges: edges };

    var ready = false;
    function showCount() {
      setText(els.status, withN("drawn", visibleCount));
      if (ready) { canvas.dataset.nodesDrawn = String(visibleCount); }
    }
    showCount();

    // Apply a new collapsed set below the given subtree roots: one batched update each.
    function refresh(roots, relabel) {
      var nodeChanges = new Map();
      var touched = [];
      roots.forEach(function (root) {
        var stack = [[root, blockedByAncestor(root)]];
        while (stack.length) {
          var top = stack.pop();
          var k = top[0];
          var blocked = top[1];
          var hide = origHidden.get(k) || blocked;
          if (nodeHidden.get(k) !== hide) {
            nodeHidden.set(k, hide);
            visibleCount += hide ? -1 : 1;
            nodeChanges.set(k, { id: realId.get(k), hidden: hide });
            touched.push(k);
          }
          var cs = kids.get(k);
          if (!cs) { continue; }
          var b = blocked || collapsed.has(k);
          for (var i = 0; i < cs.length; i++) { stack.push([cs[i], b]); }
        }
      });
      relabel.forEach(function (k) {
        var change = nodeChanges.get(k) || { id: realId.get(k) };
        change.label = labelFor(k);
        nodeChanges.set(k, change);
      });
      var edgeChanges = new Map();
      touched.forEach(function (k) {
        var list = incident.get(k);
        if (!list) { return; }
        for (var i = 0; i < list.length; i++) {
          var ek = list[i];
          var hide = edgeShouldHide(ek);
          if (edgeHidden.get(ek) !== hide) {
            edgeHidden.set(ek, hide);
            edgeChanges.set(ek, { id: edgeKey.get(ek), hidden: hide });
          }
        }
      });
      if (nodeChanges.size) { nodes.update(Array.from(nodeChanges.values())); }
      if (edgeChanges.size) { edges.update(Array.from(edgeChanges.values())); }
      showCount();
    }

    function setCollapsed(key, wantCollapsed) {
      if (!kids.has(key) || collapsed.has(key) === wantCollapsed) { return; }
      if (wantCollapsed) { collapsed.add(key); } else { collapsed.delete(key); }
      refresh([key], [key]);
    }

    // Open every collapsed branch above these nodes so that they can be seen.
    function revealAll(keys) {
      var opened = [];
      keys.forEach(function (key) {
        var p = parent.get(key);
        while (p !== undefined) {
          if (collapsed.has(p)) { collapsed.delete(p); opened.push(p); }
          p = parent.get(p);
        }
      });
      if (opened.length) { refresh(opened, opened); }
    }

    function isVisible(key) { return realId.has(key) && nodeHidden.get(key) === false; }

    // ---- details panel ---------------------------------------------------------------------
    var current = null; // key shown in the panel

    function clearChildren(el) { if (el) { el.textContent = ""; } }

    function safeUrl(url) {
      // Same-origin paths only: "/x", never "//host" or "/\host" (browsers read both as a host).
      return typeof url === "string" && url.charAt(0) === "/" && url.charAt(1) !== "/" && url.charAt(1) !== "\\";
    }

    function updateToggle() {
      if (!els.toggle) { return; }
      if (current === null || !kids.has(current)) {
        els.toggle.hidden = true;
        return;
      }
      els.toggle.textContent = collapsed.has(current) ? label("expand") : label("collapse");
      els.toggle.hidden = false;
    }

    var hashState = readHash();
    function writeHash() {
      var parts = [];
      ["find", "node"].forEach(function (k) {
        if (hashState[k]) { parts.push(k + "=" + encodeURIComponent(hashState[k])); }
      });
      var url = window.location.pathname + window.location.search + (parts.length ? "#" + parts.join("&") : "");
      try { window.history.replaceState(null, "", url); } catch (err) { /* a sandboxed page */ }
    }

    function showDetails(key) {
      var info = details[key];
      if (!realId.has(key)) { clearDetails(); return; }
      current = key;
      canvas.dataset.selected = key;
      hashState.node = key;
      writeHash();
      var placeholder = !info || info.kind === "placeholder";
      setText(els.title, placeholder ? label("placeholder") : String(info.title === undefined || info.title === null ? "" : info.title));
      clearChildren(els.list);
      clearChildren(els.members);
      if (!placeholder && Array.isArray(info.fields) && els.list) {
        info.fields.forEach(function (pair) {
          if (!Array.isArray(pair)) { return; }
          var dt = document.createElement("dt");
          dt.textContent = label(pair[0]) || String(pair[0]);
          var dd = document.createElement("dd");
          var value = pair[1];
          dd.textContent = value === null || value === undefined || value === "" ? "–" : String(value);
          els.list.appendChild(dt);
          els.list.appendChild(dd);
        });
      }
      if (els.list) { els.list.hidden = !els.list.firstChild; }
      if (!placeholder && Array.isArray(info.members) && els.members) {
        info.members.forEach(function (name) {
          var li = document.createElement("li");
          li.textContent = String(name);
          els.members.appendChild(li);
        });
      }
      if (els.members) { els.members.hidden = !els.members.firstChild; }
      if (els.link) {
        if (!placeholder && safeUrl(info.url)) {
          var key2 = info.url_label === "open_chain" || info.url_label === "open_household"
            ? info.url_label : (info.kind === "chain" ? "open_chain" : "open_household");
          els.link.setAttribute("href", info.url);
          els.link.textContent = label(key2);
          els.link.hidden = false;
        } else {
          els.link.hidden = true;
          els.link.setAttribute("href", "#");
          els.link.textContent = "";
        }
      }
      if (els.chain) {
        // the person-level view of this household's chain (households only)
        if (!placeholder && safeUrl(info.chain_url)) {
          els.chain.setAttribute("href", info.chain_url);
          els.chain.textContent = label("open_people");
          els.chain.hidden = false;
        } else {
          els.chain.hidden = true;
          els.chain.setAttribute("href", "#");
          els.chain.textContent = "";
        }
      }
      if (els.centre) { els.centre.textContent = label("centre"); }
      updateToggle();
      if (els.empty) { els.empty.hidden = true; }
      if (els.panel) { els.panel.hidden = false; }
    }

    function clearDetails() {
      current = null;
      delete canvas.dataset.selected;
      if (hashState.node) { delete hashState.node; writeHash(); }
      if (els.panel) { els.panel.hidden = true; }
      if (els.empty) { els.empty.hidden = false; }
      clearChildren(els.list);
      clearChildren(els.members);
      setText(els.title, "");
      if (els.link) { els.link.hidden = true; els.link.setAttribute("href", "#"); }
      if (els.chain) { els.chain.hidden = true; els.chain.setAttribute("href", "#"); }
      if (els.toggle) { els.toggle.hidden = true; }
    }

    function select(keys) {
      var ids = [];
      keys.forEach(function (k) { if (isVisible(k)) { ids.push(realId.get(k)); } });
      if (ids.length) { network.selectNodes(ids); } else { network.unselectAll(); }
    }

    function focusOn(key, animate) {
      if (!isVisible(key)) { return; }
      network.focus(realId.get(key), { scale: 1.2, animation: animate ? { duration: 400 } : false });
    }

    function toggle(key) {
      if (!kids.has(key)) { return; }
      setCollapsed(key, !collapsed.has(key));
      if (current === key) { updateToggle(); }
    }

    // ---- events ----------------------------------------------------------------------------
    network.on("click", function (params) {
      var picked = params && Array.isArray(params.nodes) ? params.nodes : [];
      if (picked.length) {
        showDetails(String(picked[0]));
      } else {
        clearDetails();
      }
    });

    network.on("doubleClick", function (params) {
      var picked = params && Array.isArray(params.nodes) ? params.nodes : [];
      if (!picked.length) { return; }
      var key = String(picked[0]);
      toggle(key);
      showDetails(key);
      select([key]);
    });

    if (els.toggle) {
      els.toggle.addEventListener("click", function () {
        if (current === null) { return; }
        var key = current;
        toggle(key);
        select([key]);
      });
    }

    if (els.centre) {
      els.centre.addEventListener("click", function () {
        if (current !== null) { focusOn(current, true); }
      });
    }

    if (els.fit) {
      els.fit.addEventListener("click", function () { network.fit(); });
    }

    var searchIndex = null; // key -> lower-cased search strings joined by "\n"
    function buildSearchIndex() {
      searchIndex = [];
      order.forEach(function (key) {
        var info = details[key];
        if (!info || !Array.isArray(info.search) || !info.search.length) { return; }
        var text = info.search.filter(function (s) { return s !== null && s !== undefined; })
          .map(function (s) { return String(s).toLowerCase().split("\n").join(" "); }).join("\n");
        if (text) { searchIndex.push([key, text]); }
      });
    }

    function search(query) {
      var q = String(query || "").trim().toLowerCase();
      if (q) { hashState.find = String(query).trim(); } else { delete hashState.find; }
      writeHash();
      if (!q) { setText(els.searchResult, ""); return []; }
      if (searchIndex === null) { buildSearchIndex(); }
      var matches = [];
      for (var i = 0; i < searchIndex.length; i++) {
        if (searchIndex[i][1].indexOf(q) !== -1) { matches.push(searchIndex[i][0]); }
      }
      if (!matches.length) {
        setText(els.searchResult, label("no_match"));
        return matches;
      }
      revealAll(matches.slice(0, MAX_EXPAND_MATCHES));
      setText(els.searchResult, withN("matches", matches.length));
      select(matches);
      showDetails(matches[0]);
      focusOn(matches[0], true);
      return matches;
    }

    if (els.searchForm) {
      els.searchForm.addEventListener("submit", function (event) {
        event.preventDefault();
        search(els.searchInput ? els.searchInput.value : "");
      });
    }

    document.addEventListener("keydown", function (event) {
      if (event.key !== "Escape" && event.key !== "Esc") { return; }
      network.unselectAll();
      clearDetails();
    });

    // ---- start -----------------------------------------------------------------------------
    // Open where labels read: the whole map when it fits at READABLE_PX, else its top at
    // the zoom where labels appear, centred on the first root (netmap.tree_layout puts the
    // biggest chain first, its seed at the top).
    function readableStart() {
      network.fit({ animation: false });
      var fontSize = options.nodes && options.nodes.font && options.nodes.font.size || 14;
      var want = READABLE_PX / fontSize;
      if (data.mode === "overview" || network.getScale() >= want || !canvas.clientWidth) { return; }
      var top = null;
      rawNodes.forEach(function (n) {
        if (n && typeof n.x === "number" && typeof n.y === "number" && !nodeHidden.get(String(n.id)) &&
            (top === null || n.y < top.y || (n.y === top.y && n.x < top.x))) {
          top = n;
        }
      });
      if (top === null) { return; }
      network.moveTo({
        position: { x: top.x, y: top.y - 40 / want + canvas.clientHeight / 2 / want },
        scale: want,
        animation: false
      });
    }

    var focusKey = data.focus !== undefined && data.focus !== null && realId.has(String(data.focus))
      ? String(data.focus) : null;
    var highlight = (Array.isArray(data.highlight) ? data.highlight : [])
      .map(String).filter(function (k) { return realId.has(k); });
    var startReveal = highlight.slice(0, MAX_EXPAND_MATCHES);
    if (focusKey !== null) { startReveal.unshift(focusKey); }
    if (startReveal.length) { revealAll(startReveal); }
    var keptNode = hashState.node && realId.has(hashState.node) ? hashState.node : null;
    var keptFind = hashState.find || "";
    clearDetails();
    readableStart();
    if (focusKey !== null || highlight.length) {
      var first = focusKey !== null ? focusKey : highlight[0];
      select(focusKey !== null ? [focusKey].concat(highlight) : highlight);
      showDetails(first);
      // the household asked for: marked (web/mapview.py) and in the middle of the canvas
      if (focusKey !== null) { focusOn(focusKey, false); }
    }
    if (keptFind) {
      if (els.searchInput) { els.searchInput.value = keptFind; }
      search(keptFind);
    }
    if (keptNode !== null) {
      revealAll([keptNode]);
      select([keptNode]);
      showDetails(keptNode);
      focusOn(keptNode, false);
    }

    function markReady() {
      if (ready) { return; }
      ready = true;
      document.body.dataset.mapReady = "1";
      showCount();
    }
    network.once("afterDrawing", markReady);
    // A canvas that cannot be drawn (hidden, zero size) must not leave the page waiting forever.
    window.setTimeout(function () {
      if (!canvas.clientWidth || !canvas.clientHeight) { markReady(); }
    }, 3000);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
