// Drafts a person has not sent yet (a report with its photos), kept in the browser's IndexedDB
// so that a reload, a closed tab or a forced login loses nothing. Photos are kept as the File
// objects the picker gave (IndexedDB stores them as they are).

const DB_NAME = "gridwatch";
const STORE = "drafts";

function database() {
  return new Promise((resolve, reject) => {
    const opening = indexedDB.open(DB_NAME, 1);
    opening.onupgradeneeded = () => opening.result.createObjectStore(STORE);
    opening.onsuccess = () => resolve(opening.result);
    opening.onerror = () => reject(opening.error);
  });
}

async function run(mode, work) {
  const db = await database();
  try {
    return await new Promise((resolve, reject) => {
      const transaction = db.transaction(STORE, mode);
      const asked = work(transaction.objectStore(STORE));
      transaction.oncomplete = () => resolve(asked?.result);
      transaction.onerror = () => reject(transaction.error);
    });
  } finally {
    db.close();
  }
}

/** The draft kept under `key`, or undefined. */
export function loadDraft(key) {
  return run("readonly", (store) => store.get(key)).catch(() => undefined);
}

/** Keep `draft` (any structured-cloneable value, Files included) under `key`. */
export function saveDraft(key, draft) {
  return run("readwrite", (store) => store.put(draft, key)).catch(() => undefined);
}

export function dropDraft(key) {
  return run("readwrite", (store) => store.delete(key)).catch(() => undefined);
}
