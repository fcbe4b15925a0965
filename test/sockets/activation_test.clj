(ns sockets.activation-test
  "Socket activation (`sockets.platform/activation-sockets`, `sockets listen --inherit`).

  An activated process is made the way a service manager makes one, with nothing but this
  JVM and /bin/sh: posix_spawnp (jnr-posix) starts /bin/sh with the test's sockets dup2'ed to
  fds 3 and 4 (file actions), and the shell exports LISTEN_PID=$$ (its own pid, which `exec`
  keeps), LISTEN_FDS and LISTEN_FDNAMES and execs a child JVM (test/sockets/child/activation.clj,
  or the CLI). Every child is bounded in time and killed when it overruns."
  (:require [clojure.edn :as edn]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [sockets.cli :as cli]
            [sockets.core :as s]
            [sockets.platform :as p]
            [sockets.test-util :as u])
  (:import (java.io File)
           (java.util.concurrent TimeUnit TimeoutException)
           (jnr.posix SpawnFileAction)))

(set! *warn-on-reflection* true)

(use-fixtures :once u/fd-fixture)

(def ^:private child-timeout-s 180)

(defn- java-bin [] (str (System/getProperty "java.home") "/bin/java"))

(defn- sh-quote [^String x] (str "'" (str/replace x "'" "'\\''") "'"))

(defn- wait-exit
  "Waits for child `pid` (at most `child-timeout-s`, then SIGKILL) and reaps it: its exit
  status, or :timeout."
  [pid]
  (let [ph (.orElse (java.lang.ProcessHandle/of pid) nil)
        timed-out? (when ph
                     (try (.get (.onExit ^java.lang.ProcessHandle ph) child-timeout-s TimeUnit/SECONDS) false
                          (catch TimeoutException _ true)))
        status (int-array 1)]
    (when timed-out? (.kill (u/posix) (long pid) (int 9)))
    (.waitpid (u/posix) (long pid) ^ints status (int 0))
    (if timed-out? :timeout (bit-and (bit-shift-right (aget status 0) 8) 0xff))))

(defn- spawn-activated
  "Starts `command` (a vector of words) through /bin/sh as a service manager would: `fds`
  (numbers open in this JVM, none of them 3 or 4) at fds 3, 4, ..., /dev/null at fd
  3+(count fds), and LISTEN_PID=$$, LISTEN_FDS=`listen-fds`, LISTEN_FDNAMES=`names` exported
  before exec. stdin is /dev/null, stdout and stderr go to files. Returns {:pid :out :err}."
  [fds listen-fds names command]
  (let [out (File/createTempFile "activation" ".out")
        err (File/createTempFile "activation" ".err")
        null-fd (+ 3 (count fds))
        script (str "export LISTEN_PID=$$ LISTEN_FDS=" listen-fds " LISTEN_FDNAMES=" (sh-quote names) "; "
                    "exec " (str/join " " (map sh-quote command))
                    " <" "/dev/null >" (sh-quote (str out)) " 2>" (sh-quote (str err)) " " null-fd "</dev/null")
        actions (map-indexed (fn [i fd] (SpawnFileAction/dup (int fd) (int (+ 3 i)))) fds)
        env (for [[k v] (System/getenv) :when (not (str/starts-with? k "LISTEN_"))] (str k "=" v))
        pid (.posix_spawnp (u/posix) "/bin/sh" ^java.util.Collection (vec actions)
                           ^java.util.Collection ["/bin/sh" "-c" script] ^java.util.Collection (vec env))]
    (is (pos? pid) "posix_spawnp started /bin/sh")
    {:pid pid :out out :err err}))

(defn- finish
  "Waits for a spawned child; {:exit :out :err}, its files deleted."
  [{:keys [pid ^File out ^File err]}]
  (try {:exit (wait-exit pid) :out (slurp out) :err (slurp err)}
       (finally (.delete out) (.delete err))))

(defn- child-command [& args]
  (into [(java-bin) "-Dsockets.child=true" "-cp" (System/getProperty "java.class.path") "clojure.main"
         "test/sockets/child/activation.clj"] args))

(defn- fresh-fd
  "A socket of this JVM whose fd is not 3 or 4 (a dup2 onto 3 or 4 must not clobber another
  source): `make` is called again while it gives one of them (kept open meanwhile)."
  [make]
  (loop [held []]
    (let [^sockets.Socket so (make)]
      (if (#{3 4} (.fileno so))
        (recur (conj held so))
        (do (run! #(.close ^sockets.Socket %) held) so)))))

(deftest activated-child-gets-its-sockets
  (let [l (fresh-fd u/listener)
        d (fresh-fd #(s/socket :af/unix :sock/dgram))
        port (s/sockaddr-port (s/socket-name l))
        child (try (spawn-activated [(s/socket-fileno l) (s/socket-fileno d)] 3 "web:udp" (child-command "serve"))
                   (finally (s/socket-close l) (s/socket-close d)))
        ;; this JVM's copies are closed: only the child holds the listener now
        reply (binding [s/*socket-receive-timeout* (* 1000 child-timeout-s)]
                (try (with-open [c (s/socket :af/inet :sock/stream)]
                       (s/socket-connect c (s/inet-address "127.0.0.1" port))
                       (s/socket-send-all c "hello")
                       (String. ^bytes (s/socket-receive c 100) "UTF-8"))
                     (catch sockets.SocketException e [:error (ex-data e)])))
        {:keys [exit out err]} (finish child)
        r (try (edn/read-string out) (catch Exception _ nil))]
    (is (= 0 exit) err)
    (is (map? r) (str "child output: " out err))
    (testing "one connection accepted on the passed listener, echoed"
      (is (= "echo:hello" reply))
      (is (= "hello" (:echoed r))))
    (testing "the entries, in fd order, with names (a third fd without a name: nil) and the non-socket kept with :error"
      (is (= [{:fd 3 :name "web" :family :af/inet :type :sock/stream :fileno 3}
              {:fd 4 :name "udp" :family :af/unix :type :sock/dgram :fileno 4}]
             (subvec (:entries r) 0 2)))
      (let [e (get-in r [:entries 2])]
        (is (= {:fd 5 :name nil} (select-keys e [:fd :name])))
        (is (re-find #"fd 5 is not a socket" (str (:error e))))))
    (testing "every fd close-on-exec; the sockets non-blocking; closing the sockets closes 3 and 4, never 5"
      (is (= {3 [true true] 4 [true true]} (select-keys (:fd-flags r) [3 4])))
      (is (true? (first (get-in r [:fd-flags 5]))))
      (is (= {3 :closed 4 :closed} (select-keys (:fd-flags-after-close r) [3 4])))
      (is (vector? (get-in r [:fd-flags-after-close 5]))))
    (testing "adopted once: a second call returns the same vector"
      (is (true? (:second-call-identical? r))))
    (testing "the variables are unset natively, so a child process does not inherit them"
      (is (= {"LISTEN_PID" nil "LISTEN_FDS" nil "LISTEN_FDNAMES" nil} (:native-env r)))
      (is (= "-:-:-" (:grandchild-env r))))
    (testing "System/getenv is the JVM's snapshot from its first read: read before, it still shows them (documented)"
      (is (= "3" (:java-env-before r)))
      (is (= {"LISTEN_PID" (str (:pid r)) "LISTEN_FDS" "3" "LISTEN_FDNAMES" "web:udp"} (:java-env r))))))

(deftest not-activated-gives-nothing
  (let [{:keys [exit out err]} (u/run-child nil [] "activation.clj" "cases")
        r (try (edn/read-string out) (catch Exception _ nil))
        unset {"LISTEN_PID" nil "LISTEN_FDS" nil "LISTEN_FDNAMES" nil}]
    (is (= 0 exit) err)
    (is (map? r) (str "child output: " out err))
    (testing "every case gives [] and adopts nothing"
      (is (= 19 (count (:results r))))
      (doseq [[case {:keys [result]}] (:results r)]
        (is (= [] result) (str case))))
    (testing "the variables are unset (as sd_listen_fds(1) does), activated or not; kept with {:unset-env? false}"
      (doseq [[case {:keys [env-after]}] (:results r) :when (not= case :other-pid-keep-env)]
        (is (= unset env-after) (str case)))
      (is (= {"LISTEN_PID" "1" "LISTEN_FDS" "1" "LISTEN_FDNAMES" nil}
             (get-in r [:results :other-pid-keep-env :env-after]))))
    (testing "no fd of the child was touched (validation runs before any fcntl that changes flags)"
      (is (true? (:fd-flags-unchanged? r))))))

(deftest options-and-this-jvm
  (testing "this JVM (the test runner) was not activated"
    (is (= [] (p/activation-sockets)))
    (is (= [] (p/activation-sockets {:unset-env? false})))
    (is (= [] (p/activation-sockets {:unset-env? nil}))))
  (testing "bad options are :invalid"
    (is (= :invalid (u/kind-of #(p/activation-sockets 5))))
    (is (= :invalid (u/kind-of #(p/activation-sockets {:unset-env? "yes"})))))
  (testing "listen --inherit without activation: exit 1 and a message saying why"
    (let [err (java.io.StringWriter.)
          code (binding [*err* err] (cli/run ["listen" "--inherit"]))]
      (is (= 1 code))
      (is (re-find #"no socket was passed to this process" (str err)))))
  (testing "listen --inherit takes the socket as it is: -u, -U, -4, -6 and two names are usage errors"
    (doseq [args [["-u"] ["-U"] ["-4"] ["-6"] ["a" "b"]]]
      (let [err (java.io.StringWriter.)
            code (binding [*err* err] (cli/run (into ["listen" "--inherit"] args)))]
        (is (= 2 code) (pr-str args))
        (is (re-find (if (= "a" (first args)) #"at most one NAME" (re-pattern (str "\\(no " (first args) "\\)")))
                     (str err))
            (pr-str args))))))

(deftest cli-listen-inherit-serves-the-named-socket
  (let [a (fresh-fd u/listener)
        b (fresh-fd u/listener)
        port-b (s/sockaddr-port (s/socket-name b))
        child (try (spawn-activated [(s/socket-fileno a) (s/socket-fileno b)] 2 "first:second"
                                    [(java-bin) "-cp" (System/getProperty "java.class.path")
                                     "clojure.main" "-m" "sockets.cli" "listen" "--inherit" "--echo" "second"])
                   (finally (s/socket-close a) (s/socket-close b)))
        reply (binding [s/*socket-receive-timeout* (* 1000 child-timeout-s)]
                (try (with-open [c (s/socket :af/inet :sock/stream)]
                       (s/socket-connect c (s/inet-address "127.0.0.1" port-b))
                       (s/socket-send-all c "ping\n")
                       (s/socket-shutdown c :shut/wr)
                       (loop [acc ""]
                         (let [x (String. ^bytes (s/socket-receive c 100) "UTF-8")]
                           (if (= "" x) acc (recur (str acc x))))))
                     (catch sockets.SocketException e [:error (ex-data e)])))
        {:keys [exit out err]} (finish child)]
    (is (= 0 exit) err)
    (is (= "ping\n" reply) "the socket named \"second\" echoed")
    (is (str/includes? err (str "listening on 127.0.0.1:" port-b)))
    (is (= "ping\n" out))))
