// Paging, sorting and filtering: items beyond a page are `hidden`; nothing is fetched or made.
(function () {
  var PAGE = +document.body.dataset.page;
  function items(c) { return Array.prototype.slice.call(c.children); }
  function refresh(c) {
    var limit = +c.dataset.shown, matching = 0;
    items(c).forEach(function (e) {
      if (e.dataset.match === '0') { e.hidden = true; return; }
      matching += 1; e.hidden = matching > limit;
    });
    var more = document.getElementById(c.id + '-more'), rest = Math.max(0, matching - limit);
    if (more) {
      more.hidden = rest === 0;
      more.textContent = 'Show ' + Math.min(rest, PAGE) + ' more (' + rest + ' not shown)';
    }
  }
  document.querySelectorAll('button.more').forEach(function (b) {
    b.addEventListener('click', function () {
      var c = document.getElementById(b.dataset.for);
      c.dataset.shown = +c.dataset.shown + PAGE; refresh(c);
    });
  });
  var sort = document.getElementById('sort'), landmark = document.getElementById('landmark');
  function apply() {
    var by = sort.value, want = landmark.value;
    document.querySelectorAll('.sortable').forEach(function (c) {
      var list = items(c);
      list.sort(function (a, b) {
        if (by === 'confidence') return b.dataset.p - a.dataset.p;
        if (by === 'landmark') {
          return a.dataset.landmark.localeCompare(b.dataset.landmark) || b.dataset.p - a.dataset.p;
        }
        return a.dataset.i - b.dataset.i;
      });
      list.forEach(function (e) {
        e.dataset.match = (!want || e.dataset.landmark === want) ? '1' : '0';
        c.appendChild(e);
      });
      c.dataset.shown = PAGE; refresh(c);
    });
  }
  sort.addEventListener('change', apply); landmark.addEventListener('change', apply);
  document.querySelectorAll('input.status').forEach(function (box) {
    box.addEventListener('change', function () {
      var s = document.getElementById('section-' + box.value); if (s) s.hidden = !box.checked;
    });
  });
})();
