// Paging, sorting and filtering: items beyond a page are `hidden`; nothing is fetched or made.
(function () {
  var PAGE = +document.body.dataset.page;
  function items(c) { return Array.prototype.slice.call(c.children); }
  function refresh(c) {
    var limit = +c.dataset.shown, matching = 0;
    items(c).forEach(function (e) {
      if (e.dataset.match === '0') { e.hidden = true; return; }
      matching += 1; e.hidden = matching > limit;
      if (!e.hidden) {
        e.querySelectorAll('img[data-src]').forEach(function (img) {
          img.src = img.dataset.src; img.removeAttribute('data-src');
        });
      }
    });
    // The heading says how many match a landmark filter: "Tagged photos (44 of 296)".
    var count = c.closest('section').querySelector('h2 .count'), all = items(c).length;
    if (count) {
      count.textContent = matching === all ? count.dataset.total
        : matching.toLocaleString('en') + ' of ' + count.dataset.total;
    }
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
  // The named-place filter (--places) applies to the photos of every section.
  var place = document.getElementById('place') || {value: ''};
  function apply() {
    var by = sort.value, want = landmark.value, where = place.value;
    document.querySelectorAll('.grid').forEach(function (c) {
      var list = items(c), sortable = c.classList.contains('sortable');
      if (sortable) {
        list.sort(function (a, b) {
          if (by === 'confidence') return b.dataset.p - a.dataset.p;
          if (by === 'landmark') {
            return a.dataset.landmark.localeCompare(b.dataset.landmark) || b.dataset.p - a.dataset.p;
          }
          return a.dataset.i - b.dataset.i;
        });
      }
      list.forEach(function (e) {
        var ok = (!want || !sortable || e.dataset.landmark === want) && (!where || e.dataset.place === where);
        e.dataset.match = ok ? '1' : '0';
        c.appendChild(e);
      });
      c.dataset.shown = PAGE; refresh(c);
    });
  }
  var boxes = Array.prototype.slice.call(document.querySelectorAll('input.status'));
  function showStatuses() {
    boxes.forEach(function (box) {
      var s = document.getElementById('section-' + box.value); if (s) s.hidden = !box.checked;
    });
  }
  // The view is kept in the address (#sort=confidence&landmark=...&hide=failed), so it survives a
  // reload and can be shared.
  function remember() {
    var hidden = boxes.filter(function (b) { return !b.checked; }).map(function (b) { return b.value; });
    var view = new URLSearchParams({sort: sort.value, landmark: landmark.value});
    if (place.value) view.set('place', place.value);
    if (hidden.length) view.set('hide', hidden.join(','));
    history.replaceState(null, '', '#' + view.toString());
    apply(); showStatuses();
  }
  sort.addEventListener('change', remember); landmark.addEventListener('change', remember);
  if (place.addEventListener) place.addEventListener('change', remember);
  boxes.forEach(function (box) { box.addEventListener('change', remember); });
  var saved = new URLSearchParams(location.hash.slice(1));
  if (saved.has('sort') || saved.has('landmark') || saved.has('hide') || saved.has('place')) {
    sort.value = saved.get('sort') || 'order';
    landmark.value = saved.get('landmark') || '';
    place.value = saved.get('place') || '';
    var hide = (saved.get('hide') || '').split(',');
    boxes.forEach(function (box) { box.checked = hide.indexOf(box.value) < 0; });
    apply(); showStatuses();
  }
})();
