// The Review page's thumbnail grid: one component for the whole page.
// Every string from the run (ids, captions, badges) is set as textContent or as an attribute
// value, never parsed as HTML. Picks are shown at once and sent to the server as one message
// per action: {ids, picked, seq}. Keyboard: j/k or arrows move the focus ring, x or space
// picks, o or Enter opens the detail view; shift-click (or shift+x) picks a range.
export default function (component) {
  const { data, setTriggerValue, parentElement } = component;
  const cards = (data && data.cards) || [];
  let root = parentElement.querySelector(".ln-grid");
  if (!root) {
    root = document.createElement("div");
    root.className = "ln-grid";
    root.setAttribute("role", "grid");
    parentElement.appendChild(root);
  }
  const state = root.__ln || (root.__ln = { focus: 0, anchor: null, seq: 0, shift: false });
  const hadFocus = parentElement.activeElement != null && root.contains(parentElement.activeElement);
  if (state.page !== data.page_key) {
    state.page = data.page_key;
    state.focus = 0;
    state.anchor = null;
  }
  state.cards = cards;
  state.picked = cards.map((c) => Boolean(c.picked));
  root.style.setProperty("--ln-columns", String(data.columns || 8));
  root.setAttribute("aria-label", String(data.label || "Thumbnails"));

  const nodes = [];
  const fragment = document.createDocumentFragment();
  cards.forEach((card, i) => {
    const cell = document.createElement("div");
    cell.className = "ln-card";
    cell.setAttribute("role", "gridcell");
    cell.setAttribute("data-row-id", String(card.id));
    cell.setAttribute("data-index", String(i));
    cell.setAttribute("aria-label", String(card.aria));
    cell.tabIndex = -1;
    const img = document.createElement("img");
    img.loading = "lazy";
    img.decoding = "async";
    img.alt = String(card.alt);
    img.src = String(card.thumb);
    cell.appendChild(img);
    const caption = document.createElement("div");
    caption.className = "ln-caption";
    const label = document.createElement("strong");
    label.textContent = String(card.label);
    caption.appendChild(label);
    caption.appendChild(document.createTextNode(" · " + String(card.confidence) + " · #" + String(card.rank)));
    caption.title = String(card.label);
    cell.appendChild(caption);
    if (card.badge) {
      const badge = document.createElement("div");
      badge.className = "ln-badge";
      badge.textContent = String(card.badge);
      cell.appendChild(badge);
    }
    const actions = document.createElement("div");
    actions.className = "ln-actions";
    const pick = document.createElement("label");
    pick.className = "ln-pick";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.setAttribute("aria-label", "Pick " + String(card.id));
    pick.appendChild(box);
    pick.appendChild(document.createTextNode(" Pick"));
    const open = document.createElement("button");
    open.type = "button";
    open.className = "ln-open";
    open.textContent = "Open";
    open.setAttribute("aria-label", "Open " + String(card.id) + " in the detail view");
    actions.appendChild(pick);
    actions.appendChild(open);
    cell.appendChild(actions);
    fragment.appendChild(cell);
    nodes.push({ cell, box });
  });
  root.replaceChildren(fragment);
  state.nodes = nodes;

  function show(i) {
    const on = state.picked[i];
    nodes[i].cell.classList.toggle("ln-picked", on);
    nodes[i].cell.setAttribute("aria-selected", on ? "true" : "false");
    nodes[i].box.checked = on;
  }
  function focusCard(i, move) {
    if (!nodes.length) return;
    const at = Math.max(0, Math.min(nodes.length - 1, i));
    nodes.forEach((n, j) => {
      n.cell.tabIndex = j === at ? 0 : -1;
      n.cell.classList.toggle("ln-focus", j === at);
    });
    state.focus = at;
    if (move) nodes[at].cell.focus({ preventScroll: false });
  }
  function pickAt(i, shift, to) {
    const target = to === undefined ? !state.picked[i] : to;
    let changed = [i];
    if (shift && state.anchor !== null && state.anchor < nodes.length) {
      const lo = Math.min(state.anchor, i);
      const hi = Math.max(state.anchor, i);
      changed = [];
      for (let j = lo; j <= hi; j += 1) changed.push(j);
    }
    changed.forEach((j) => {
      state.picked[j] = target;
      show(j);
    });
    state.anchor = i;
    state.seq += 1;
    setTriggerValue("toggle", {
      ids: changed.map((j) => String(state.cards[j].id)),
      picked: target,
      seq: state.seq,
    });
  }
  function openAt(i) {
    if (i >= 0 && i < nodes.length) setTriggerValue("open", String(state.cards[i].id));
  }
  // listeners are added once per root; they call this render's functions through `state`
  state.api = { focusCard, pickAt, openAt };
  nodes.forEach((_, i) => show(i));
  focusCard(Math.min(state.focus, Math.max(0, nodes.length - 1)), hadFocus);

  // one set of listeners per root, reading the current cards from `state`
  if (!state.listening) {
    state.listening = true;
    root.addEventListener("click", (event) => {
      const cell = event.target.closest(".ln-card");
      if (!cell) return;
      const i = Number(cell.getAttribute("data-index"));
      state.api.focusCard(i, false);
      if (event.target.closest(".ln-open")) {
        state.api.openAt(i);
        return;
      }
      if (event.target.closest("label, input")) {
        state.shift = event.shiftKey; // the checkbox's change event follows
        return;
      }
      state.api.pickAt(i, event.shiftKey);
    });
    root.addEventListener("focusin", (event) => {
      const cell = event.target.closest(".ln-card");
      if (!cell) return;
      const i = Number(cell.getAttribute("data-index"));
      if (i !== state.focus) state.nodes.forEach((n, j) => {
        n.cell.tabIndex = j === i ? 0 : -1;
        n.cell.classList.toggle("ln-focus", j === i);
      });
      state.focus = i;
    });
    root.addEventListener("change", (event) => {
      const cell = event.target.closest(".ln-card");
      if (!cell || event.target.type !== "checkbox") return;
      const i = Number(cell.getAttribute("data-index"));
      state.api.pickAt(i, state.shift, event.target.checked);
      state.shift = false;
    });
    root.addEventListener("keydown", (event) => {
      if (event.altKey || event.ctrlKey || event.metaKey) return;
      const key = event.key;
      const columns = Number(getComputedStyle(root).getPropertyValue("--ln-columns")) || 8;
      const moves = { j: 1, ArrowRight: 1, k: -1, ArrowLeft: -1, ArrowDown: columns, ArrowUp: -columns };
      if (key in moves) {
        event.preventDefault();
        state.api.focusCard(state.focus + moves[key], true);
      } else if (key === "x" || key === "X" || (key === " " && event.target.type !== "checkbox")) {
        event.preventDefault();
        state.api.pickAt(state.focus, event.shiftKey);
      } else if (key === "o" || (key === "Enter" && !event.target.closest("button"))) {
        event.preventDefault();
        state.api.openAt(state.focus);
      }
    });
  }
}
