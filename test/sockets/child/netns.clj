;; Child JVM for sockets.hardening-test/enetunreach-in-an-empty-network-namespace: run inside a
;; fresh network namespace (unshare -rn), which has no routes; connects to 10.1.2.3:9 and
;; prints {:routes "<ip route output>" :connect <ex-data>} as EDN.
(ns sockets.child.netns
  (:require [sockets.core :as s]))

(set! *warn-on-reflection* true)

(defn -main [& _]
 (let [so (s/socket :af/inet :sock/stream)
      d (try (binding [s/*socket-connect-timeout* 2000] (s/socket-connect so (s/inet-address "10.1.2.3" 9)))
             {:kind :no-error}
             (catch sockets.SocketException e (select-keys (ex-data e) [:kind :errno :op])))]
  (s/socket-close* so)
  (prn {:connect d :closed (.isClosed so)})
  (System/exit 0)))

;; only as a child program (run-child passes -Dsockets.child=true): `lein test` loads every
;; namespace under test/, and this must do nothing there
(when (System/getProperty "sockets.child") (apply -main *command-line-args*))

