// The child's page: its print button (served from /static: the CSP allows no inline script).
document.getElementById("print")?.addEventListener("click", () => window.print());
