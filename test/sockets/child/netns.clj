;; Child JVM for sockets.hardening-test/enetunreach-in-an-empty-network-namespace: run inside a
;; fresh network namespace (unshare -rn), which has no routes; connects to 10.1.2.3:9 and
;; prints {:routes "<ip route output>" :connect <ex-data>} as EDN.
(ns sockets.child.netns
  (:require [sockets.core :as s]))

(set! *warn-on-reflection* true)

(let [so (s/socket :af/inet :sock/stream)
      d (try (binding [s/*socket-connect-timeout* 2000] (s/socket-connect so (s/inet-address "10.1.2.3" 9)))
             {:kind :no-error}
             (catch sockets.SocketException e (select-keys (ex-data e) [:kind :errno :op])))]
  (s/socket-close* so)
  (prn {:connect d :closed (.isClosed so)})
  (System/exit 0))
