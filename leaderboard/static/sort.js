// Sort a table.sortable by the clicked column: numbers by their data-value, text by content.
function sortTable(table, column, type, descending) {
  const body = table.tBodies[0];
  const key = (row) => {
    const cell = row.cells[column];
    if (type === "number") {
      const value = parseFloat(cell.dataset.value);
      return Number.isNaN(value) ? -Infinity : value;
    }
    return cell.textContent.trim().toLowerCase();
  };
  const rows = Array.from(body.rows);
  rows.sort((a, b) => {
    const [x, y] = [key(a), key(b)];
    const order = x < y ? -1 : x > y ? 1 : 0;
    return descending ? -order : order;
  });
  rows.forEach((row) => body.appendChild(row));
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("table.sortable").forEach((table) => {
    table.querySelectorAll("th").forEach((header, column) => {
      header.addEventListener("click", () => {
        const descending = header.classList.contains("sorted-ascending");
        table.querySelectorAll("th").forEach((other) =>
          other.classList.remove("sorted-ascending", "sorted-descending"));
        header.classList.add(descending ? "sorted-descending" : "sorted-ascending");
        sortTable(table, column, header.dataset.type, descending);
      });
    });
  });
});
