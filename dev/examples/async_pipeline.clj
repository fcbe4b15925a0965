(ns examples.async-pipeline
  "A core.async pipeline: a server that upper-cases lines, served by channels on the event loop.
  Run: lein run -m examples.async-pipeline"
  (:require [clojure.core.async :as a]
            [sockets.async :as sa]
            [sockets.core :as s]))

(defn run
  "Sends `text` through an async upper-casing server; returns the reply."
  [^String text]
  (with-open [l (s/socket :af/inet :sock/stream)]
    (s/socket-bind l (s/inet-address "127.0.0.1" 0))
    (s/socket-listen l 16)
    (let [accepted (sa/accept-chan l)]
      (a/go-loop []
        (when-let [c (a/<! accepted)]
          (let [in (sa/receive-chan c)
                out (sa/send-chan c {:close? true :shutdown-on-close? true})]
            (a/pipeline 1 out (map #(.toUpperCase (String. ^bytes % "UTF-8"))) in))
          (recur)))
      (with-open [c (s/socket :af/inet :sock/stream)]
        (s/socket-connect c (s/socket-name l))
        (s/socket-send-all c text)
        (s/socket-shutdown c :shut/wr)
        (let [out (java.io.ByteArrayOutputStream.)
              buf (byte-array 4096)]
          (loop []
            (let [n (s/socket-receive! c buf)]
              (when (pos? n) (.write out buf 0 n) (recur))))
          (a/close! accepted)
          (String. (.toByteArray out) "UTF-8"))))))

(defn -main
  "Prints what (run \"hello, pipeline\") returns: `lein run -m examples.async-pipeline`."
  [& _]
  (prn (run "hello, pipeline"))
  (shutdown-agents))
