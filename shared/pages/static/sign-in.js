// Production sign-in with Identity Platform: its own SDK signs the creator in (Google), and the ID token goes
// to the server in a form POST, which verifies it and keeps it in the HttpOnly session cookie.
const FIREBASE = "https://www.gstatic.com/firebasejs/10.14.1";
const box = document.getElementById("identity-sign-in");
const form = document.getElementById("sign-in-form");
if (box && form) {
  const status = document.getElementById("sign-in-status");
  const button = document.getElementById("sign-in-google");
  const { initializeApp } = await import(`${FIREBASE}/firebase-app.js`);
  const auth = await import(`${FIREBASE}/firebase-auth.js`);
  const app = initializeApp({ apiKey: box.dataset.apiKey, authDomain: box.dataset.authDomain });
  const session = auth.getAuth(app);
  auth.onAuthStateChanged(session, async (user) => {
    if (!user) {
      status.textContent = "Sign in with the account you use for Flo.";
      button.hidden = false;
      return;
    }
    status.textContent = "Signing you in…";
    form.elements.namedItem("id_token").value = await user.getIdToken(true);
    form.submit();
  });
  button.addEventListener("click", () => {
    auth.signInWithPopup(session, new auth.GoogleAuthProvider()).catch(() => {
      status.textContent = "Sign-in did not complete. Try again.";
    });
  });
}
