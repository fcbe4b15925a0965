;; Child JVM for sockets.ownership-test/dup-at-emfile-raises, run under a lowered
;; RLIMIT_NOFILE: dups one socket until the fd table is full, checks the failing dup's error,
;; that a dup works again once fds are freed, and that nothing leaked. Prints one EDN map.
(ns sockets.child.dup-emfile
  (:require [sockets.core :as s]
            [sockets.test-util :as u]))

(set! *warn-on-reflection* true)

(defn err [f]
  (try (f) :no-error
       (catch sockets.SocketException e (assoc (select-keys (ex-data e) [:kind :errno :op]) :message (.getMessage e)))))

(defn fill-with-dups
  "Dups `so` until a dup fails (at most 5000); returns [the dups, the failure as a map]."
  [so]
  (loop [dups []]
    (let [r (try (s/socket-dup so) (catch sockets.SocketException e e))]
      (cond (instance? sockets.SocketException r) [dups (err #(throw r))]
            (< (count dups) 5000) (recur (conj dups r))
            :else [(conj dups r) {:kind :never-full}]))))

(defn report []
  (with-open [so (s/socket :af/inet :sock/stream)]
    (s/socket-close (s/socket-dup so)) ; warm up the path before counting
    (let [base-fds (u/fd-targets)
          [dups full] (fill-with-dups so)]
      (run! s/socket-close dups)
      {:dups (count dups) :full full
       :recovered (err #(s/socket-close (s/socket-dup so)))
       :base (count base-fds) :after (count (u/settled-fd-targets base-fds 2000))})))

;; run-child passes -Dsockets.child=true; `lein test` merely loads this namespace
(when (System/getProperty "sockets.child") (prn (report)) (System/exit 0))
