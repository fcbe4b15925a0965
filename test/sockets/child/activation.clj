;; Child JVM for sockets.activation-test. Prints one EDN map and exits 0.
;;
;; Argument "serve": this JVM was started (by the test, through /bin/sh and exec) with
;; sockets at fds 3 and 4, /dev/null at fd 5, and LISTEN_PID (its own pid), LISTEN_FDS=3,
;; LISTEN_FDNAMES=web:udp. It calls activation-sockets, reports what it got, what a second
;; call returns, the environment afterwards (native getenv, a grandchild's view, and the
;; JVM's System/getenv snapshot, first read before the call), then accepts one connection on the first socket and echoes
;; one message back.
;;
;; Argument "cases": this JVM was started without the variables. For each case it sets them
;; natively (setenv), calls activation-sockets and reports the result and the variables left
;; afterwards; none of the cases names an fd this JVM has open, so none adopts anything.
(ns sockets.child.activation
  (:require [clojure.string :as str]
            [sockets.core :as s]
            [sockets.platform :as p])
  (:import (jnr.posix POSIX POSIXFactory)))

(set! *warn-on-reflection* true)

(def ^:private posix (delay (POSIXFactory/getNativePOSIX)))
(defn px ^POSIX [] @posix)

(def vars ["LISTEN_PID" "LISTEN_FDS" "LISTEN_FDNAMES"])

(defn native-env [] (into {} (for [v vars] [v (.getenv (px) ^String v)])))

(defn fd-flags
  "[cloexec? nonblocking?] of fd n from fcntl, or :closed."
  [n]
  (let [fd (.fcntl sockets.impl.Native/LIBC (int n) sockets.impl.Native/F_GETFD 0)
        fl (.fcntl sockets.impl.Native/LIBC (int n) sockets.impl.Native/F_GETFL 0)]
    (if (neg? fd)
      :closed
      [(pos? (bit-and fd sockets.impl.Native/FD_CLOEXEC)) (pos? (bit-and fl sockets.impl.Native/O_NONBLOCK))])))

(defn grandchild-env
  "The three variables as a child process started by ProcessBuilder (no environment given)
  sees them: \"-\" for one that is unset."
  []
  (let [p (.start (ProcessBuilder. ["/bin/sh" "-c" "echo \"${LISTEN_PID--}:${LISTEN_FDS--}:${LISTEN_FDNAMES--}\""]))]
    (try (str/trim (slurp (.getInputStream p)))
         (finally (.waitFor p) (.close (.getOutputStream p)) (.close (.getErrorStream p))))))

(defn describe [entries]
  (mapv (fn [{:keys [fd name socket error]}]
          (cond-> {:fd fd :name name}
            socket (assoc :family (s/socket-family socket) :type (s/socket-type socket)
                          :fileno (s/socket-fileno socket))
            error (assoc :error error)))
        entries))

(defn serve []
  (let [java-before (System/getenv "LISTEN_FDS") ; the JVM's snapshot is taken here, at its first read
        r (p/activation-sockets)
        again (p/activation-sockets)
        out {:pid (.pid (java.lang.ProcessHandle/current))
             :entries (describe r)
             :second-call-identical? (identical? r again)
             :fd-flags (into {} (for [n [3 4 5]] [n (fd-flags n)]))
             :native-env (native-env)
             :grandchild-env (grandchild-env)
             :java-env (into {} (for [v vars] [v (System/getenv ^String v)]))
             :java-env-before java-before}
        echoed (when-let [l (:socket (first r))]
                 (binding [s/*socket-accept-timeout* 120000
                           s/*socket-receive-timeout* 120000]
                   (with-open [c (s/socket-accept l)]
                     (let [msg (String. ^bytes (s/socket-receive c 100) "UTF-8")]
                       (s/socket-send-all c (str "echo:" msg))
                       msg))))]
    (run! #(some-> ^java.io.Closeable (:socket %) .close) r)
    (assoc out :echoed echoed :fd-flags-after-close (into {} (for [n [3 4 5]] [n (fd-flags n)])))))

(defn run-case [env opts]
  (doseq [v vars] (.unsetenv (px) ^String v))
  (doseq [[k v] env] (.setenv (px) ^String k ^String v 1))
  (let [r (try (if opts (p/activation-sockets opts) (p/activation-sockets))
               (catch Exception e [:threw (class e) (.getMessage e)]))]
    {:result r :env-after (native-env)}))

(defn cases []
  (let [me (str (.pid (java.lang.ProcessHandle/current)))
        _ (p/activation-sockets {:unset-env? false}) ; loads what the calls load (no fd opens below)
        flags-before (into {} (for [n (range 3 64)] [n (fd-flags n)]))
        results
        (into {}
              (for [[case env opts]
                    [[:nothing-set {} nil]
                     [:other-pid {"LISTEN_PID" "1" "LISTEN_FDS" "1" "LISTEN_FDNAMES" "x"} nil]
                     [:other-pid-keep-env {"LISTEN_PID" "1" "LISTEN_FDS" "1"} {:unset-env? false}]
                     [:zero-fds {"LISTEN_PID" me "LISTEN_FDS" "0"} nil]
                     [:fds-missing {"LISTEN_PID" me} nil]
                     [:pid-missing {"LISTEN_FDS" "1"} nil]
                     [:fds-letters {"LISTEN_PID" me "LISTEN_FDS" "abc"} nil]
                     [:fds-negative {"LISTEN_PID" me "LISTEN_FDS" "-1"} nil]
                     [:fds-plus {"LISTEN_PID" me "LISTEN_FDS" "+1"} nil]
                     [:fds-space {"LISTEN_PID" me "LISTEN_FDS" " 1"} nil]
                     [:fds-suffix {"LISTEN_PID" me "LISTEN_FDS" "1x"} nil]
                     [:fds-empty {"LISTEN_PID" me "LISTEN_FDS" ""} nil]
                     [:fds-huge {"LISTEN_PID" me "LISTEN_FDS" "99999999999999999999"} nil]
                     [:fds-int-max {"LISTEN_PID" me "LISTEN_FDS" "2147483647"} nil]
                     [:fds-not-open {"LISTEN_PID" me "LISTEN_FDS" "2147483644"} nil]
                     [:pid-letters {"LISTEN_PID" "me" "LISTEN_FDS" "1"} nil]
                     [:pid-empty {"LISTEN_PID" "" "LISTEN_FDS" "1"} nil]
                     [:pid-negative {"LISTEN_PID" (str "-" me) "LISTEN_FDS" "1"} nil]
                     [:pid-space {"LISTEN_PID" (str me " ") "LISTEN_FDS" "1"} nil]]]
                [case (run-case env opts)]))]
    {:results results
     :fd-flags-unchanged? (= flags-before (into {} (for [n (range 3 64)] [n (fd-flags n)])))}))

(defn -main [mode]
  (prn (case mode "serve" (serve) "cases" (cases)))
  (flush)
  (shutdown-agents)
  (System/exit 0))

;; only as a child program (started with -Dsockets.child=true): `lein test` loads every
;; namespace under test/, and this must do nothing there
(when (System/getProperty "sockets.child") (apply -main *command-line-args*))
