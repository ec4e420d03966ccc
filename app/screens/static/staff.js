// Staff sign-in for the managers' screens (dashboard, reports): an overlay form, the access
// token kept for the browser tab (sessionStorage), a sign-out button.
import { api } from "/screens/static/common.js";

const $ = (id) => document.getElementById(id);

/**
 * Wire #sign-in-form, #sign-out and #staff-name. onStart(token) runs once signed in (at once
 * when the tab already holds a token); onSignOut() when the token is dropped.
 */
export function staffSession(branch, tr, { key, onStart, onSignOut = () => {} }) {
  const session = {
    token: sessionStorage.getItem(key),
    signOut() {
      session.token = null;
      sessionStorage.removeItem(key);
      $("sign-out").hidden = true;
      $("staff-name").textContent = "";
      $("sign-in").hidden = false;
      onSignOut();
      $("username").focus();
    },
    start() {
      $("sign-in").hidden = true;
      $("sign-out").hidden = false;
      $("staff-name").textContent = sessionStorage.getItem(`${key}.name`) || "";
      onStart(session.token);
    },
  };
  $("sign-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const message = $("sign-in-message");
    message.textContent = "";
    try {
      const reply = await api("/auth/token", {
        method: "POST",
        form: { username: $("username").value, password: $("password").value },
      });
      if (reply.branch !== null && reply.branch !== branch) {
        message.textContent = tr("wrong_branch");
        return;
      }
      session.token = reply.access_token;
      sessionStorage.setItem(key, session.token);
      sessionStorage.setItem(`${key}.name`, reply.display_name || $("username").value);
      $("password").value = "";
      session.start();
    } catch (error) {
      message.textContent = error.status === 0 ? tr("offline") : error.message;
    }
  });
  $("sign-out").addEventListener("click", () => session.signOut());
  return session;
}

export const SIGN_IN_STRINGS = {
  zh: {
    sign_in_title: "管理人员登录",
    username: "用户名",
    password: "密码",
    sign_in: "登录",
    sign_out: "退出",
    wrong_branch: "此账号不属于本网点",
    offline: "网络中断 — 正在重新连接…",
  },
  en: {
    sign_in_title: "Manager sign-in",
    username: "Username",
    password: "Password",
    sign_in: "Sign in",
    sign_out: "Sign out",
    wrong_branch: "This account belongs to another branch",
    offline: "Network down — reconnecting…",
  },
};
