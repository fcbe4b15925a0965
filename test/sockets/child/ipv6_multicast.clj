;; Child JVM for sockets.options-test/ipv6-multicast-delivery-in-a-network-namespace, run
;; inside a fresh network namespace holding lo and an ifb device mc0 with MULTICAST on (lo
;; has no MULTICAST flag, so no group traffic flows on it). A member joins ff02::1:3 on mc0
;; through :ipv6/join-group; a sender with :ipv6/multicast-if mc0 and :ipv6/multicast-loop
;; sends to the group (again every 100 ms while mc0's link-local address may still be
;; tentative, for at most 10 s). Prints {:got <text or kind> :from <sockaddr> :index n :left
;; <what a send after :ipv6/leave-group delivered>} as EDN.
(ns sockets.child.ipv6-multicast
  (:require [sockets.core :as s]
            [sockets.options :as o]
            [sockets.platform :as p]))

(set! *warn-on-reflection* true)

(defn- receive-text
  "The text of the first datagram `r` receives within `ms`, or the error's :kind."
  [r ms]
  (try (binding [s/*socket-receive-timeout* ms] (String. ^bytes (s/socket-receive r 100) "UTF-8"))
       (catch sockets.SocketException e (:kind (ex-data e)))))

(defn report []
  (let [idx (p/interface-index "mc0")
        group {:group "ff02::1:3" :interface idx}]
    (with-open [r (s/socket :af/inet6 :sock/dgram)
                w (s/socket :af/inet6 :sock/dgram)]
      (s/socket-bind r (s/inet-address "::" 0))
      (o/set-socket-options! r {:ipv6/join-group group})
      (o/set-socket-options! w {:ipv6/multicast-if idx :ipv6/multicast-loop true :ipv6/multicast-hops 1})
      (let [to (assoc (s/inet-address "ff02::1:3" (s/sockaddr-port (s/socket-name r))) :scope-id idx)
            deadline (+ (System/currentTimeMillis) 10000)
            got (loop []
                  (let [sent (try (s/socket-send-to w "to the group" to) (catch sockets.SocketException e e))
                        got (receive-text r 100)]
                    (if (and (not (string? got)) (< (System/currentTimeMillis) deadline))
                      (recur)
                      (if (instance? Exception sent) (select-keys (ex-data sent) [:kind :errno]) got))))]
        (while (string? (receive-text r 200)))   ; drain the copies of the retries
        (o/set-socket-options! r {:ipv6/leave-group group})
        (s/socket-send-to w "after leaving" to)
        {:index idx :got got :left (receive-text r 500)}))))

;; run-child passes -Dsockets.child=true; `lein test` merely loads this namespace
(when (System/getProperty "sockets.child") (prn (report)) (System/exit 0))
