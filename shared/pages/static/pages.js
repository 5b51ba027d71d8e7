// Progressive enhancement only: every page works without this file.
// 1. Fan pages show times in the browser's timezone: without ?tz= the page asks again with it.
// 2. "Link is being prepared" turns into the Join button by itself once the link is ready.
"use strict";

(function fanTimezone() {
  if (!document.getElementById("zone-note")) return;
  const url = new URL(window.location.href);
  if (url.searchParams.has("tz")) return;
  let zone = "";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { return; }
  if (!zone) return;
  url.searchParams.set("tz", zone);
  window.location.replace(url.toString());
})();

(function liveLinks() {
  const box = document.querySelector("[data-live]");
  if (!box || !document.querySelector("[data-link-pending]")) return;
  const source = box.getAttribute("data-live");
  let rounds = 0;

  function joinLink(booking, style) {
    const link = document.createElement("a");
    link.className = "button primary";
    link.href = booking.meeting_url;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    if (style === "fan") {
      link.id = "join";
      link.textContent = booking.video_provider === "zoom" ? "Join on Zoom" : "Join with Google Meet";
    } else {
      link.textContent = "Join meeting";
    }
    return link;
  }

  function chip(booking) {
    const label = booking.zoom_chip ? "Zoom" : booking.video_provider === "google_meet" ? "Google Meet" : "";
    if (!label) return null;
    const span = document.createElement("span");
    span.className = "chip " + (booking.zoom_chip ? "zoom" : "meet");
    span.textContent = label;
    return span;
  }

  function apply(bookings) {
    for (const booking of bookings) {
      if (booking.link_status === "pending") continue;
      const ready = booking.join_available && /^https:\/\//.test(booking.meeting_url || "");
      for (const pending of document.querySelectorAll("[data-link-pending]")) {
        if (pending.getAttribute("data-link-pending") !== booking.id) continue;
        const style = pending.getAttribute("data-join-style");
        if (ready) {
          pending.replaceWith(joinLink(booking, style));
        } else {
          pending.removeAttribute("data-link-pending");
          pending.textContent = style === "fan" ? "Your video link will follow by email."
            : "No video link: share one with the fan yourself";
        }
      }
      for (const slot of document.querySelectorAll("[data-chip]")) {
        if (slot.getAttribute("data-chip") !== booking.id || slot.firstChild) continue;
        const made = chip(booking);
        if (made) slot.appendChild(made);
      }
    }
  }

  async function poll() {
    rounds += 1;
    try {
      const response = await fetch(source, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.ok) {
        const body = await response.json();
        apply(Array.isArray(body.bookings) ? body.bookings : [body]);
      }
    } catch (e) { /* try again next round */ }
    if (document.querySelector("[data-link-pending]") && rounds < 150) window.setTimeout(poll, 2000);
  }
  window.setTimeout(poll, 1500);
})();
