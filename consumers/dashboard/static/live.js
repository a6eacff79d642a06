// The alert list's live feed (served from /static: the CSP allows no inline script).
(() => {
  const feed = document.getElementById("feed");
  if (!feed) return;
  const level = feed.dataset.level, kind = feed.dataset.kind;
  const body = document.getElementById("alerts"), live = document.getElementById("live");
  // The page's own words, in the reader's language (list.html).
  const words = live.dataset, say = (text, values) => text.replace(/\{(\w+)\}/g, (_, k) => values[k]);
  const [ALERT, AREA, AGENCIES, FIRST, LAST, STATUS, ALSO] = body.dataset.labels.split("|");
  const cell = (label, text, cls) => { const td = document.createElement("td"); td.dataset.label = label; if (cls) { const s = document.createElement("span"); s.className = cls; s.textContent = text; td.append(s); } else { td.textContent = text; } return td; };
  const source = new EventSource("/events?since=" + encodeURIComponent(feed.dataset.since));
  // A list that cannot hear changes must not look like a quiet day: say so until it hears again.
  let interrupted = false;
  source.onerror = () => { interrupted = true; live.textContent = words.lost; };
  source.onopen = () => { if (interrupted) { interrupted = false; live.textContent = words.back; } };
  // The pipeline's state: a banner while anything stops alerts reaching this list, and an
  // empty list says "No open alerts" only while the pipeline is known to be up to date.
  source.addEventListener("pipeline", (message) => {
    const state = JSON.parse(message.data);
    const banner = document.getElementById("pipeline");
    if (banner) {
      banner.hidden = state.all_clear;
      document.getElementById("pipeline-problems").textContent = state.problems.join(" ");
    }
    const empty = document.querySelector("#empty td");
    if (empty) empty.textContent = state.all_clear ? empty.dataset.allClear : empty.dataset.unknown;
  });
  source.onmessage = (message) => {
    for (const a of JSON.parse(message.data)) {
      if ((level && a.level !== level) || (kind && a.kind !== kind)) continue;
      const old = body.querySelector(`tr[data-alert-id="${CSS.escape(a.alert_id)}"]`);
      if (a.episode_status !== "open" || a.status === "closed") {
        if (old) { old.remove(); live.textContent = say(words.ended, { area: a.view.area, status: a.status === "closed" ? a.view.status : a.view.episode }); }
        continue;
      }
      const row = document.createElement("tr");
      row.dataset.alertId = a.alert_id;
      const v = a.view, reopened = a.status === "reopened";
      // The same cells as the server's rows (list.html), each labelled for the stacked layout.
      const first = cell(ALERT, v.level, "level level-" + a.level);
      const link = document.createElement("a"); link.href = "/alerts/" + encodeURIComponent(a.alert_id); link.textContent = v.link;
      first.append(" ", link);
      const area = cell(AREA, v.area);
      if (v.also.length) { const s = document.createElement("span"); s.className = "muted"; s.textContent = " (" + ALSO + " " + v.also.join(", ") + ")"; area.append(s); }
      const state = cell(STATUS, reopened ? "" : v.status);
      if (reopened) { const s = document.createElement("strong"); s.textContent = v.status; state.append(s); }
      row.append(first, area, cell(AGENCIES, String(a.agencies)), cell(FIRST, v.first), cell(LAST, v.last), state);
      if (reopened) row.className = "reopened";
      if (old) old.replaceWith(row); else body.prepend(row);
      document.getElementById("empty")?.remove();
      live.textContent = say(words.updated, { alert: v.link });
    }
  };
})();
