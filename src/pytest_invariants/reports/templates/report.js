(function () {
  "use strict";
  // Row fields, in the order html.py's RowView.as_json writes them.
  var ID = 0, TITLE = 1, STATUS = 2, STATUS_RANK = 3, SEVERITY = 4, SEVERITY_RANK = 5,
      OWNER = 6, COVERAGE = 7, FLAGS = 8, TAGS = 9;
  var rows = JSON.parse(document.getElementById("rows-data").textContent);
  var tbody = document.querySelector("#inv-table tbody");
  var trs = [];
  Array.prototype.forEach.call(tbody.rows, function (tr) { trs[Number(tr.dataset.i)] = tr; });
  var haystack = rows.map(function (r) {
    return (r[ID] + " " + r[TITLE] + " " + r[OWNER] + " " + r[TAGS]).toLowerCase();
  });
  var search = document.getElementById("q");
  var byStatus = document.getElementById("f-status");
  var bySeverity = document.getElementById("f-severity");
  var byOwner = document.getElementById("f-owner");
  var byFlag = document.getElementById("f-flag");
  var shown = document.getElementById("shown");

  function matches(i, text, status, severity, owner, flag) {
    var r = rows[i];
    return (!status || r[STATUS] === status) && (!severity || r[SEVERITY] === severity) &&
      (!owner || r[OWNER] === owner) &&
      (!flag || (" " + r[FLAGS] + " ").indexOf(" " + flag + " ") >= 0) &&
      (!text || haystack[i].indexOf(text) >= 0);
  }

  function applyFilters() {
    var text = search.value.trim().toLowerCase(), count = 0;
    for (var i = 0; i < rows.length; i++) {
      var ok = matches(i, text, byStatus.value, bySeverity.value, byOwner.value, byFlag.value);
      if (trs[i].hidden === ok) { trs[i].hidden = !ok; }
      if (ok) { count++; }
    }
    shown.textContent = count + " of " + rows.length + " invariants";
  }

  var keys = {
    status: function (r) { return r[STATUS_RANK]; },
    id: function (r) { return r[ID].toLowerCase(); },
    severity: function (r) { return r[SEVERITY_RANK]; },
    owner: function (r) { return r[OWNER].toLowerCase(); },
    title: function (r) { return r[TITLE].toLowerCase(); },
    coverage: function (r) { return r[COVERAGE] === null ? -1 : r[COVERAGE]; },
    flags: function (r) { return -r[FLAGS].split(" ").filter(Boolean).length; }
  };

  function sortBy(th) {
    var key = keys[th.dataset.key];
    var descending = th.getAttribute("aria-sort") === "ascending";
    var sign = descending ? -1 : 1;
    var order = rows.map(function (_, i) { return i; });
    order.sort(function (a, b) {
      var x = key(rows[a]), y = key(rows[b]);
      if (x < y) { return -sign; }
      if (x > y) { return sign; }
      return rows[a][STATUS_RANK] - rows[b][STATUS_RANK] || (rows[a][ID] < rows[b][ID] ? -1 : 1);
    });
    var fragment = document.createDocumentFragment();
    order.forEach(function (i) { fragment.appendChild(trs[i]); });
    tbody.appendChild(fragment);
    document.querySelectorAll("#inv-table th").forEach(function (h) {
      h.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }

  function showDetail() {
    var found = /^#i(\d+)$/.exec(window.location.hash);
    var box = document.getElementById("detail");
    if (!found) { return; }
    var template = document.getElementById("tpl-" + found[1]);
    if (!template) { return; }
    box.replaceChildren(template.content.cloneNode(true));
    trs.forEach(function (tr) { tr.classList.remove("current"); });
    var tr = trs[Number(found[1])];
    if (tr) { tr.classList.add("current"); }
    box.scrollIntoView({block: "start"});
  }

  [search, byStatus, bySeverity, byOwner, byFlag].forEach(function (control) {
    control.addEventListener("input", applyFilters);
    control.addEventListener("change", applyFilters);
  });
  document.querySelectorAll("#inv-table th[data-key]").forEach(function (th) {
    th.addEventListener("click", function () { sortBy(th); });
  });
  // Open worst first, as a reader triaging the report wants it.
  sortBy(document.querySelector('#inv-table th[data-key="status"]'));
  document.querySelectorAll(".card[data-status]").forEach(function (card) {
    card.addEventListener("click", function () {
      byStatus.value = byStatus.value === card.dataset.status ? "" : card.dataset.status;
      applyFilters();
      document.getElementById("invariants").scrollIntoView({block: "start"});
    });
  });
  tbody.addEventListener("click", function (event) {
    var tr = event.target.closest("tr");
    if (tr && event.target.tagName !== "A") { window.location.hash = "#i" + tr.dataset.i; }
  });
  window.addEventListener("hashchange", showDetail);
  document.body.classList.add("js");
  applyFilters();
  showDetail();
}());
