;; Child JVM for sockets.loop-test/loop-first-event-at-emfile, run under a lowered
;; RLIMIT_NOFILE: a fresh event loop gets its first event (a connection to accept) while the fd
;; table is full; once fds are freed it must accept it. Prints one EDN map and exits 0.
(ns sockets.child.emfile-loop
  (:require [clojure.core.async :as a]
            [sockets.async :as sa]
            [sockets.constants :as c])
  (:import (sockets EventLoop Socket SockAddr SocketException)))

(set! *warn-on-reflection* true)

(defn -main []
  (let [af (int (c/->int :af :af/inet)) stream (int (c/->int :sock :sock/stream))
        l (doto (Socket/open af stream 0) (.bind (SockAddr/parseInet "127.0.0.1" 0)) (.listen 16))
        ;; warm up the blocking connect path (its classes) on another listener: what is tested
        ;; here is the loop, whose listener gets no event before the fd table is full
        _ (with-open [w (doto (Socket/open af stream 0) (.bind (SockAddr/parseInet "127.0.0.1" 0)) (.listen 1))
                      c (Socket/open af stream 0)]
            (.connect c (SockAddr/parseInet "127.0.0.1" (.port (.localAddress w))) 2000))
        lp (EventLoop/create "emfile-loop")
        acc (sa/accept-chan l {:loop lp})
        client (Socket/open af stream 0)
        fillers (loop [acc []]
                  (if-let [s (try (Socket/open af stream 0) (catch SocketException _ nil))]
                    (recur (conj acc s))
                    acc))]
    ;; the loop's first event: a connection to accept, with no fd to accept it into
    (try (.connect client (SockAddr/parseInet "127.0.0.1" (.port (.localAddress l))) 2000)
         (catch SocketException _ nil))
    (let [at-emfile (a/alt!! acc ([v] v) (a/timeout 500) :nothing)]
      (run! #(.closeQuietly ^Socket %) fillers)
      (let [v (if (instance? Socket at-emfile) at-emfile (a/alt!! acc ([v] v) (a/timeout 5000) :nothing))]
        (prn {:fillers (count fillers)
              :at-emfile (if (instance? Socket at-emfile) :accepted at-emfile)
              :after-free (cond (instance? Socket v) :accepted (instance? SocketException v) (str v) :else v)
              :state (sa/loop-state lp)
              :handler-errors (.handlerErrors lp)
              :last-error (str (.lastHandlerError lp))})
        (when (instance? Socket v) (.close ^Socket v))))
    (.close client) (.close l)
    (sa/stop-loop! lp)
    (System/exit 0)))

(when (System/getProperty "sockets.child") (apply -main *command-line-args*))
