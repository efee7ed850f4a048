/* The book's own script (no third-party code here). Tables on narrow screens: a table that does not fit
   its column, or one of whose rows would stand taller than about a phone's third of a screen, is shown
   as cards, one card per row, each cell under its column's name (book/style/pcsm.css, "cards"), so a
   row reads top to bottom without sideways scrolling. Wide screens keep every table as it is. */
(function () {
  "use strict";
  var NARROW = "(max-width: 720px)";
  var TALL = 150; // px: a row taller than this reads better as a card

  function grid(rows) {
    // the cell at every (row, column) of ``rows``, cells spanning rows or columns repeated over them
    var out = [];
    for (var r = 0; r < rows.length; r++) {
      out[r] = out[r] || [];
      var column = 0;
      for (var c = 0; c < rows[r].cells.length; c++) {
        var cell = rows[r].cells[c];
        while (out[r][column]) column++;
        for (var dr = 0; dr < (cell.rowSpan || 1); dr++) {
          out[r + dr] = out[r + dr] || [];
          for (var dc = 0; dc < (cell.colSpan || 1); dc++) out[r + dr][column + dc] = cell;
        }
        column += cell.colSpan || 1;
      }
    }
    return out;
  }

  function text(cell) {
    return cell ? cell.innerText.replace(/\s+/g, " ").trim() : "";
  }

  function label(table) {
    // each body cell gets its column's name as data-label: the lowest header row that names the column
    // (a pandas table's index names sit in a header row of their own, below the columns' names); named
    // again once MathJax has typeset the header (its text is then the formula's, not its TeX source)
    var head = table.tHead ? grid(table.tHead.rows) : [];
    var names = [];
    for (var h = head.length - 1; h >= 0; h--) {
      for (var j = 0; j < head[h].length; j++) {
        if (!names[j] && text(head[h][j])) names[j] = text(head[h][j]);
      }
    }
    for (var b = 0; b < table.tBodies.length; b++) {
      var rows = table.tBodies[b].rows, body = grid(rows);
      for (var r = 0; r < rows.length; r++) {
        for (var c = 0; c < rows[r].cells.length; c++) {
          var cell = rows[r].cells[c], column = body[r].indexOf(cell);
          if (names[column]) cell.setAttribute("data-label", names[column]);
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
