;; Child JVM for sockets.hardening-test/no-sigpipe. HotSpot ignores SIGPIPE, which would hide a
;; missing MSG_NOSIGNAL: this resets SIGPIPE to SIG_DFL through jnr, then writes to TCP and unix
;; sockets whose peer closed or reset, through socket-send, socket-send-all and the output
;; stream. Prints one EDN map of outcomes and exits 0. Argument "control": does one raw
;; send(2) without MSG_NOSIGNAL instead, which must kill this process with SIGPIPE.
(ns sockets.child.sigpipe
  (:require [clojure.java.io :as io]
            [sockets.core :as s])
  (:import (java.nio.file Files)
           (java.nio.file.attribute FileAttribute)))

(set! *warn-on-reflection* true)

(definterface Sig
  (^long signal [^int sig ^long handler])
  (^long send [^int fd ^bytes buf ^long len ^int flags]))

(def libc (delay (.load (jnr.ffi.LibraryLoader/create Sig) "c")))

(def SIGPIPE (.intValue jnr.constants.platform.Signal/SIGPIPE))

(defn sig-ignored?
  "True when SIGPIPE is ignored, from /proc/self/status SigIgn."
  []
  (let [line (first (filter #(.startsWith ^String % "SigIgn:")
                           (.split (String. (Files/readAllBytes (.toPath (io/file "/proc/self/status"))) "US-ASCII") "\n")))
        mask (Long/parseUnsignedLong (.trim (subs line 7)) 16)]
    (bit-test mask (dec SIGPIPE))))

(defn outcome [f]
  (try
    (dotimes [_ 200] (f))
    :no-error
    (catch sockets.SocketException e (select-keys (ex-data e) [:kind :errno]))
    (catch java.io.IOException e [:io-exception (.getMessage e)])))

(defn pair
  "[writer, peer-side] over a fresh listener at `addr`; the listener is closed."
  [addr]
  (with-open [l (s/socket (s/sockaddr-family addr) :sock/stream)]
    (s/socket-bind l addr)
    (s/socket-listen l 4)
    (let [c (s/socket (s/sockaddr-family addr) :sock/stream)]
      (s/socket-connect c (s/socket-name l))
      [c (s/socket-accept l)])))

(defn run-case [addr how via]
  (let [[c peer] (pair addr)]
    (when (= how :reset) (s/set-socket-options! peer {:so/linger {:on? true :seconds 0}}))
    (s/socket-close peer)
    (let [buf (byte-array 65536)
          r (case via
              :socket-send (outcome #(s/socket-send c buf))
              :socket-send-all (outcome #(s/socket-send-all c buf))
              :output-stream (let [[_ out] (s/socket-io-ports c)]
                               (outcome #(doto ^java.io.OutputStream out (.write buf) (.flush)))))]
      (s/socket-close* c)
      r)))

(defn -main [& args]
  (.signal ^Sig @libc SIGPIPE 0) ; SIG_DFL
  (when (sig-ignored?) (println "SIGPIPE still ignored") (System/exit 3))
  (let [dir (.toFile (Files/createTempDirectory "sigpipe" (make-array FileAttribute 0)))]
    (try
      (if (= (first args) "control")
        (let [[c peer] (pair (s/inet-address "127.0.0.1" 0))]
          (s/socket-close peer)
          (dotimes [_ 200] (.send ^Sig @libc (s/socket-fileno c) (byte-array 4096) 4096 0))
          (println "control: still alive")
          (System/exit 4))
        (let [addrs {:tcp (s/inet-address "127.0.0.1" 0) :unix (s/unix-address (str (io/file dir "s")))}
              results (into (sorted-map)
                            (for [[net addr] addrs, how [:close :reset], via [:socket-send :socket-send-all :output-stream]
                                  :when (not (and (= net :unix) (= how :reset)))]
                              (do (io/delete-file (io/file dir "s") true)
                                  [[net how via] (run-case addr how via)])))]
          (prn {:sigpipe-ignored (sig-ignored?) :results results})
          (System/exit 0)))
      (finally (doseq [f (reverse (file-seq dir))] (io/delete-file f true))))))

;; only as a child program (run-child passes -Dsockets.child=true): `lein test` loads every
;; namespace under test/, and this must do nothing there
(when (System/getProperty "sockets.child") (apply -main *command-line-args*))
