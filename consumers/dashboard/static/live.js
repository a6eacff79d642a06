// The alert list's live feed (served from /static: the CSP allows no inline script).
(() => {
  const feed = document.getElementById("feed");
  if (!feed) return;
  const level = feed.dataset.level, kind = feed.dataset.kind;
  const body = document.getElementById("alerts"), live = document.getElementById("live");
  const cell = (text, cls) => { const td = document.createElement("td"); if (cls) { const s = document.createElement("span"); s.className = cls; s.textContent = text; td.append(s); } else { td.textContent = text; } return td; };
  const source = new EventSource("/events?since=" + encodeURIComponent(feed.dataset.since));
  // A list that cannot hear changes must not look like a quiet day: say so until it hears again.
  let interrupted = false;
  source.onerror = () => { interrupted = true; live.textContent = "Not receiving live updates: this list may be out of date (reconnecting; reload the page to be sure)."; };
  source.onopen = () => { if (interrupted) { interrupted = false; live.textContent = "Live updates resumed: reload the page for anything missed meanwhile."; } };
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
        if (old) { old.remove(); live.textContent = "An alert in " + a.local_authority + " is now " + (a.status === "closed" ? "closed" : a.episode_status) + "."; }
        continue;
      }
      const row = document.createElement("tr");
      row.dataset.alertId = a.alert_id;
      const link = document.createElement("a"); link.href = "/alerts/" + encodeURIComponent(a.alert_id); link.textContent = "Open v" + a.version;
      const last = document.createElement("td"); last.append(link);
      const area = a.local_authorities.length ? a.local_authority + " (also " + a.local_authorities.join(", ") + ")" : a.local_authority;
      const reopened = a.status === "reopened";
      row.append(cell(a.level, "level level-" + a.level), cell(a.kind.replaceAll("_", " ")), cell(area), cell(String(a.agencies)), cell(a.first_evidence_at.slice(0, 10)), cell(a.last_evidence_at.slice(0, 10)), cell(reopened ? "escalated after closure" : a.status), last);
      if (reopened) row.className = "reopened";
      if (old) old.replaceWith(row); else body.prepend(row);
      document.getElementById("empty")?.remove();
      live.textContent = "Updated: " + a.level + " " + a.kind.replaceAll("_", " ") + " alert in " + a.local_authority + ".";
    }
  };
})();
