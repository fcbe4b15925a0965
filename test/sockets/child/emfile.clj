;; Child JVM for sockets.hardening-test/descriptor-exhaustion, run under a lowered
;; RLIMIT_NOFILE: fills the fd table with sockets, then checks socket, accept and
;; socket-connect-ai fail with :errno :EMFILE, that nothing leaked, and that all three work
;; again once fds are freed. Prints one EDN map and exits 0.
(ns sockets.child.emfile
  (:require [sockets.core :as s]
            [sockets.test-util :as u]))

(set! *warn-on-reflection* true)

(defn err [f]
  (try (f) {:result :no-error}
       (catch sockets.SocketException e (assoc (select-keys (ex-data e) [:kind :errno :op]) :message (.getMessage e)))))

(defn -main []
  (let [l (s/socket :af/inet :sock/stream)
        _ (do (s/socket-bind l (s/inet-address "127.0.0.1" 0)) (s/socket-listen l 16))
        addr (s/socket-name l)
        ais (s/address-information "127.0.0.1" (:port addr) :type :sock/stream)
        _ (do ;; warm up every path (classes, the resolver's socket) before counting
            (s/socket-close (s/socket-connect-ai ais))
            (s/socket-close (s/socket-accept l))
            (err #(s/socket-connect (s/socket :af/inet :sock/stream) (s/inet-address "127.0.0.1" 1))))
        base-fds (u/fd-targets) ; less fds closed while listed and the JVM's own cgroup/proc reads
        pending (s/socket-connect-ai ais) ; waits in l's queue for the accept below
        fillers (atom [])
        fill! (fn []
                ;; top the fd table up right before each attempt: the JVM's own transient fds
                ;; (closed after filling) would otherwise leave a free slot
                (loop []
                  (when (< (count @fillers) 5000)
                    (when-let [so (try (s/socket :af/inet :sock/stream) (catch sockets.SocketException _ nil))]
                      (swap! fillers conj so)
                      (recur)))))
        full {:socket (do (fill!) (err #(s/socket-close (s/socket :af/inet :sock/stream))))
              :accept (do (fill!) (err #(s/socket-close (binding [s/*socket-accept-timeout* 1000] (s/socket-accept l)))))
              :connect-ai (do (fill!) (err #(s/socket-close (s/socket-connect-ai ais))))}
        fillers @fillers
        _ (run! s/socket-close (take 10 fillers))
        recovered {:socket (err #(s/socket-close (s/socket :af/inet :sock/stream)))
                   :accept (err #(s/socket-close (binding [s/*socket-accept-timeout* 5000] (s/socket-accept l))))
                   :connect-ai (err #(let [c (s/socket-connect-ai ais)]
                                       (s/socket-close (s/socket-accept l))
                                       (s/socket-close c)))}]
    (run! s/socket-close (drop 10 fillers))
    (s/socket-close pending)
    (prn {:fillers (count fillers) :base (count base-fds) :after (count (u/settled-fd-targets base-fds 2000))
          :full full :recovered recovered})
    (s/socket-close l)
    (System/exit 0)))

;; only as a child program (run-child passes -Dsockets.child=true): `lein test` loads every
;; namespace under test/, and this must do nothing there
(when (System/getProperty "sockets.child") (apply -main *command-line-args*))
