/* The book's own script (no third-party code here). Tables on narrow screens: a table that does not fit
   its column, or one of whose rows would stand taller than about a phone's third of a screen, is shown
   as cards, one card per row, each cell under its column's name (book/style/pcsm.css, "cards"), so a
   row reads top to bottom without sideways scrolling. Wide screens keep every table as it is. */
(function () {
  "use strict";
  var NARROW = "(max-width: 720px)";
  var TALL = 150; // px: a row taller than this reads better as a card

  function label(table) {
    // each body cell gets its column's name (the last header row's cell above it) as data-label; named
    // again once MathJax has typeset the header (its text is then the formula's, not its TeX source)
    var head = table.tHead && table.tHead.rows.length ? table.tHead.rows[table.tHead.rows.length - 1] : null;
    var names = [];
    if (head) {
      for (var h = 0; h < head.cells.length; h++) {
        for (var span = 0; span < (head.cells[h].colSpan || 1); span++) {
          names.push(head.cells[h].innerText.replace(/\s+/g, " ").trim());
        }
      }
    }
    for (var b = 0; b < table.tBodies.length; b++) {
      var rows = table.tBodies[b].rows;
      for (var r = 0; r < rows.length; r++) {
        var column = 0;
        for (var c = 0; c < rows[r].cells.length; c++) {
          var cell = rows[r].cells[c];
          if (names[column]) cell.setAttribute("data-label", names[column]);
          column += cell.colSpan || 1;
        }
      }
    }
  }

  function tooTall(table) {
    for (var r = 0; r < table.rows.length; r++) {
      if (table.rows[r].getBoundingClientRect().height > TALL) return true;
    }
    return false;
  }

  function fit() {
    var narrow = window.matchMedia(NARROW).matches;
    var tables = document.querySelectorAll("article.bd-article table");
    for (var t = 0; t < tables.length; t++) {
      var table = tables[t];
      table.classList.remove("pcsm-cards");
      if (!narrow || !table.tBodies.length) continue;
      var room = table.parentElement.clientWidth;
      if (table.getBoundingClientRect().width > room + 1 || tooTall(table)) {
        label(table);
        table.classList.add("pcsm-cards");
      }
    }
  }

  var pending = null;
  function refit() {
    if (pending) window.clearTimeout(pending);
    pending = window.setTimeout(fit, 150);
  }

  window.addEventListener("load", function () {
    fit();
    // typeset maths changes the tables' sizes: measure again once MathJax is done
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) MathJax.startup.promise.then(fit);
  });
  window.addEventListener("resize", refit);
})();
