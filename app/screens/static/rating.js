// The rating form shared by the customer's ticket page and the counter's evaluator screen:
// one large button per level of the branch's scale; a level below "satisfied" asks for a
// reason from the branch's list (and optional text) before it is sent.

export const RATING_STRINGS = {
  zh: {
    rate_title: "请您对本次服务进行评价",
    rate_reason: "请选择原因（必选）",
    rate_text: "其他意见（可不填）",
    rate_send: "提交评价",
    rate_thanks: "感谢您的评价！",
    rate_given: "您的评价：{level}",
    rate_closed: "评价时间已过",
    rate_failed: "提交失败：{detail}",
  },
  en: {
    rate_title: "Please rate this service",
    rate_reason: "Please choose a reason (required)",
    rate_text: "Anything else? (optional)",
    rate_send: "Send",
    rate_thanks: "Thank you for your rating!",
    rate_given: "Your rating: {level}",
    rate_closed: "The time for rating has passed",
    rate_failed: "Not sent: {detail}",
  },
};

function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  const { dataset = {}, ...rest } = props;
  Object.assign(node, rest);
  for (const [key, value] of Object.entries(dataset)) node.dataset[key] = value;
  node.append(...children);
  return node;
}

// Draw the form for ``state`` (GET .../rating) into ``root``. ``send(body)`` posts the rating
// and returns the stored rating, or throws an ApiError; ``done(rating)`` runs once it is stored.
export function ratingForm(root, state, { tr, en, send, done, withText = true }) {
  root.replaceChildren();
  const name = (item) => (en() && item.name_en ? item.name_en : item.name);
  if (state.rating) {
    const level = state.levels.find((l) => l.code === state.rating.level);
    root.append(el("p", { className: "rate-done", textContent: tr("rate_given", { level: level ? name(level) : state.rating.level }) }));
    return;
  }
  if (!state.rateable) {
    root.append(el("p", { className: "rate-done", textContent: tr("rate_closed") }));
    return;
  }
  let chosen = null;
  let reason = null;
  const levels = el("div", { className: "rate-levels" });
  const reasons = el("div", { className: "rate-reasons", hidden: true });
  const text = el("textarea", { className: "rate-text", maxLength: 500, placeholder: tr("rate_text"), hidden: true });
  const submit = el("button", { className: "rate-send", textContent: tr("rate_send"), hidden: true });
  const status = el("p", { className: "rate-status" });
  const post = async () => {
    for (const button of root.querySelectorAll("button")) button.disabled = true;
    try {
      const body = { level: chosen.code };
      if (reason) body.reason = reason;
      if (text.value.trim()) body.text = text.value.trim();
      const rating = await send(body);
      root.replaceChildren(el("p", { className: "rate-done", textContent: tr("rate_thanks") }));
      done?.(rating);
    } catch (error) {
      status.textContent = tr("rate_failed", { detail: error.message });
      for (const button of root.querySelectorAll("button")) button.disabled = false;
    }
  };
  for (const level of state.levels) {
    const button = el("button", {
      className: `rate-level ${level.negative ? "negative" : level.needs_reason ? "middle" : "positive"}`,
      textContent: name(level),
      dataset: { level: level.code },
    });
    button.addEventListener("click", () => {
      chosen = level;
      for (const b of levels.children) b.classList.toggle("chosen", b === button);
      if (!level.needs_reason) {
        reason = null;
        post();
        return;
      }
      reasons.hidden = false;
      text.hidden = !withText;
      submit.hidden = false;
      submit.disabled = reason === null;
    });
    levels.append(button);
  }
  reasons.append(el("p", { className: "rate-hint", textContent: tr("rate_reason") }));
  for (const item of state.reasons) {
    const button = el("button", { className: "rate-reason", textContent: name(item), dataset: { reason: item.code } });
    button.addEventListener("click", () => {
      reason = item.code;
      for (const b of reasons.querySelectorAll("button")) b.classList.toggle("chosen", b === button);
      submit.disabled = false;
    });
    reasons.append(button);
  }
  submit.addEventListener("click", () => {
    if (chosen && reason) post();
  });
  root.append(el("h2", { textContent: tr("rate_title") }), levels, reasons, text, submit, status);
}
