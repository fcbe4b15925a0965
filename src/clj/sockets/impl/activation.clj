(ns ^:no-doc sockets.impl.activation
  "Socket activation: the listening sockets a service manager (systemd, or anything speaking
  its protocol) passed to this process, behind `sockets.platform/activation-sockets`.

  The protocol (sd_listen_fds(3)): the manager opens the sockets, puts them at fds 3, 4, ...
  (SD_LISTEN_FDS_START is 3) and execs the service with LISTEN_PID (the service's pid),
  LISTEN_FDS (how many fds) and LISTEN_FDNAMES (their names, colon-separated) set. The
  variables are read from the process's native environment (getenv(3) through
  `sockets.impl.EnvLib`), not from `System/getenv`, which is the JVM's snapshot from its
  start: the native environment is what `unsetenv` clears and what child processes inherit.

  Decisions (documented in doc/platform.md, \"Socket activation\"):
  - Not activated (LISTEN_PID or LISTEN_FDS unset, not decimal digits, LISTEN_PID not this
    process's pid, LISTEN_FDS 0, or an fd in 3 .. 3+LISTEN_FDS-1 not open): [] and nothing is
    touched. The open check runs over every fd before anything is changed.
  - Adopted once per process: the first call that finds fds adopts them (close-on-exec, and
    sockets made non-blocking as `sockets.core/fd->socket` makes them, through the same
    `sockets.Messages/adopt`) and keeps the vector; every later call returns that same
    vector (its sockets may since have been closed). So an fd never gets two owners, even
    with {:unset-env? false}.
  - Names: the i-th colon-separated part of LISTEN_FDNAMES; a missing or empty part is nil
    (systemd's library says \"unknown\"; nil says it without inventing a name).
  - An fd that is not a socket is kept in its place as {:fd :name :socket nil :error msg}
    (close-on-exec, left open, still the process's), so that the others are still usable.
  - {:unset-env? true} (the default) unsets the three variables on every call, activated or
    not, as sd_listen_fds(1) does."
  (:require [clojure.string :as str]
            [sockets.impl.args :as args])
  (:import (sockets Messages SocketException)
           (sockets.impl EnvLib Native)))

(set! *warn-on-reflection* true)

(def ^:const listen-fds-start
  "SD_LISTEN_FDS_START: the first fd of the protocol."
  3)

(def variables
  "The environment variables of the protocol."
  ["LISTEN_PID" "LISTEN_FDS" "LISTEN_FDNAMES"])

(defn- getenv ^String [^String n] (.getenv EnvLib/LIB n))

(defn- unset-env!
  "unsetenv(3) of the protocol's variables; :fatal SocketException if libc refuses one."
  []
  (doseq [^String v variables]
    (when (neg? (.unsetenv EnvLib/LIB v))
      (throw (SocketException/errno "activation-sockets" (Native/errno) (str "cannot unset " v) nil)))))

(defn- natural
  "The number in string `s` when it is 1 to 10 decimal digits and at most `hi`, else nil."
  [s hi]
  (when (and (string? s) (re-matches #"[0-9]{1,10}" s))
    (let [n (Long/parseLong s)]
      (when (<= n (long hi)) n))))

(defn- open-fd? [fd] (>= (.fcntl Native/LIBC (int fd) Native/F_GETFD 0) 0))

(defn- fd-count
  "How many fds the variables pass to this process: 0 unless LISTEN_PID is this pid, LISTEN_FDS
  a count and every fd of it open. Stops at the first fd that is not open, so a huge
  LISTEN_FDS costs at most one fcntl per open fd."
  [pid fds]
  (let [p (natural pid Integer/MAX_VALUE)
        n (natural fds (- Integer/MAX_VALUE listen-fds-start))]
    (if (and p n (= (long p) (.pid (java.lang.ProcessHandle/current)))
             (loop [fd listen-fds-start]
               (cond (>= fd (+ listen-fds-start (long n))) true
                     (open-fd? fd) (recur (inc fd))
                     :else false)))
      (long n)
      0)))

(defn- names
  "`n` names from LISTEN_FDNAMES `s` (nil or a string): nil where a part is missing or empty."
  [s n]
  (let [parts (if (string? s) (str/split s #":" (inc (long n))) [])]
    (mapv (fn [i] (let [x (get parts i)] (when (seq x) x))) (range n))))

(defn- set-cloexec!
  "Sets FD_CLOEXEC on fd; nil, or the failure's message."
  [fd]
  (when-not (Native/setCloexec (int fd))
    (str "cannot set close-on-exec on fd " fd ": " (Native/message (Native/errno)))))

(defn- entry
  "{:fd :name :socket} for inherited fd `fd`, or {:fd :name :socket nil :error msg}."
  [fd name]
  (let [base {:fd fd :name name}]
    (if-let [err (set-cloexec! fd)]
      (assoc base :socket nil :error err)
      (if (Messages/isSocket fd)
        (try (assoc base :socket (Messages/adopt fd))
             (catch SocketException e (assoc base :socket nil :error (.getMessage e))))
        (assoc base :socket nil :error (str "fd " fd " is not a socket (left open)"))))))

(def ^:private lock (Object.))
(def ^:private adopted (atom nil))

(defn activation-sockets
  "See `sockets.platform/activation-sockets`."
  [opts]
  (let [op :activation-sockets
        opts (args/options op opts)
        unset? (let [u (get opts :unset-env?)] (if (nil? u) true u))]
    (when-not (boolean? unset?)
      (throw (args/fail op ":unset-env?" "true or false" unset?)))
    (locking lock
      (let [r (or @adopted
                  (let [n (fd-count (getenv "LISTEN_PID") (getenv "LISTEN_FDS"))
                        v (mapv entry (range listen-fds-start (+ listen-fds-start n))
                                (names (getenv "LISTEN_FDNAMES") n))]
                    (when (seq v) (reset! adopted v))
                    v))]
        (when unset? (unset-env!))
        r))))
