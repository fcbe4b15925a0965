(ns sockets.tour
  "The tour `lein run` prints: what the library does, on loopback only, each step showing the
  data it got. A program namespace at the top of the stack: it loads the whole library
  (core.async, generators) up front, so `lein run` with arguments hands them to the command
  line (`sockets.cli`), which stays lean (the uberjar's main, fast to start)."
  (:require [clojure.core.async :as a]
            [clojure.pprint :as pp]
            [clojure.test.check.generators :as tgen]
            [sockets.async :as sa]
            [sockets.cli :as cli]
            [sockets.core :as s]
            [sockets.gen :as sgen]
            [sockets.impl.io-tour :as io-tour])
  (:import (java.io File)
           (java.nio.file Files)
           (java.nio.file.attribute FileAttribute))
  (:gen-class))

(set! *warn-on-reflection* true)

(defn- section [title] (println) (println (str "== " title)))
(defn- show [label v] (println (format "  %-34s %s" label (pr-str v))))

(defn- tour-sockets []
  (section "Sockets are objects with keyword constants")
  (with-open [t (s/socket :af/inet :sock/stream)
              u (s/socket :af/inet6 :sock/dgram)]
    (show "(socket :af/inet :sock/stream)" t)
    (show "(socket :af/inet6 :sock/dgram)" u)
    (show "(socket-type t)" (s/socket-type t))
    (show "(address-family->integer :af/inet6)" (s/address-family->integer :af/inet6))))

(defn- tour-addresses []
  (section "Addresses are plain maps, with a string form that parses back")
  (let [a (s/inet-address "127.0.0.1" 8080)
        b (s/inet-address "fe80::1%lo" 443)]
    (show "(inet-address \"127.0.0.1\" 8080)" a)
    (show "(sockaddr->string a)" (s/sockaddr->string a))
    (show "(inet-address \"fe80::1%lo\" 443)" b)
    (show "(sockaddr->string b)" (s/sockaddr->string b))
    (show "(string->sockaddr \"[::1]:22\")" (s/string->sockaddr "[::1]:22"))
    (show "(unix-address \"/run/app.sock\")" (s/unix-address "/run/app.sock")))
  (section "Name lookup")
  (println "  (address-information \"localhost\" \"http\")")
  (doseq [ai (s/address-information "localhost" "http")] (println "   " (pr-str ai)))
  (show "(name-information \"127.0.0.1\")" (s/name-information "127.0.0.1"))
  (show "(name-information sa #{:ni/numericserv})" (s/name-information (s/inet-address "127.0.0.1" 80) #{:ni/numericserv})))

(defn- echo-once [listener]
  (future
    (with-open [c (s/socket-accept listener)]
      (let [buf (byte-array 1024)
            n (s/socket-receive! c buf)]
        (s/socket-send-all c buf 0 n)))))

(defn- tour-stream [title addr]
  (section title)
  (with-open [l (s/socket (s/sockaddr-family addr) :sock/stream)]
    (s/socket-bind l addr)
    (s/socket-listen l 16)
    (show "listening on" (s/socket-name l))
    (let [server (echo-once l)]
      (with-open [c (s/socket (s/sockaddr-family addr) :sock/stream)]
        (s/socket-connect c (s/socket-name l))
        (show "connected; peer" (s/socket-peer-name c))
        (s/socket-send-all c "hello, echo")
        (show "sent \"hello, echo\", got back" (String. ^bytes (s/socket-receive c 1024) "UTF-8"))
        @server))))

(defn- tour-udp []
  (section "UDP: send-to and receive-from")
  (with-open [a (s/socket :af/inet :sock/dgram)
              b (s/socket :af/inet :sock/dgram)]
    (s/socket-bind a (s/inet-address "127.0.0.1" 0))
    (s/socket-bind b (s/inet-address "127.0.0.1" 0))
    (s/socket-send-to a "ping" (s/socket-name b))
    (let [[data from] (s/socket-receive-from b 100)]
      (show "b received" (String. ^bytes data "UTF-8"))
      (show "from" from))))

(defn- tour-errors []
  (section "Errors are IOExceptions with data")
  (let [port (with-open [l (s/socket :af/inet :sock/stream)]
               (s/socket-bind l (s/inet-address "127.0.0.1" 0))
               (s/sockaddr-port (s/socket-name l)))]
    (try (s/socket-connect (s/socket :af/inet :sock/stream) (s/inet-address "127.0.0.1" port))
         (catch java.io.IOException e
           (show "connect to a closed port" (.getMessage e))
           (show "ex-data" (ex-data e)))))
  (try (binding [s/*socket-receive-timeout* 100]
         (with-open [u (s/socket :af/inet :sock/dgram)]
           (s/socket-bind u (s/inet-address "127.0.0.1" 0))
           (s/socket-receive u 10)))
       (catch java.io.IOException e
         (show "receive with a 100 ms timeout" (select-keys (ex-data e) [:op :kind])))))

(defn- tour-options []
  (with-open [so (s/socket :af/inet :sock/stream {:tcp/nodelay true :so/reuseaddr true})]
    (show "(socket :af/inet :sock/stream {...})" so)
    (println "  (socket-options so)")
    (doseq [[k v] (sort-by key (s/socket-options so))]
      (println (format "    %-24s %s" k (pr-str (if (bytes? v) (vec v) v)))))
    (s/set-socket-options! so {:so/rcvbuf 262144 :so/linger {:on? true :seconds 5}})
    (show "after set-socket-options!" (s/socket-options so [:so/rcvbuf :so/linger]))))

(defn- tour-async []
  (with-open [l (s/socket :af/inet :sock/stream)]
    (s/socket-bind l (s/inet-address "127.0.0.1" 0))
    (s/socket-listen l 16)
    (let [accepted (sa/accept-chan l {})
          server (a/thread
                   (when-let [c (a/<!! accepted)]
                     (let [in (sa/receive-chan c {}) out (sa/send-chan c {:close? true :shutdown-on-close? true})]
                       (loop [] (let [v (a/<!! in)] (if (bytes? v) (do (a/>!! out v) (recur)) (a/close! out)))))))]
      (with-open [c (s/socket :af/inet :sock/stream)]
        (s/socket-connect c (s/socket-name l))
        (s/socket-send-all c "echoed by channels")
        (s/socket-shutdown c :shut/wr)
        (show "one event-loop thread echoed" (String. ^bytes (s/socket-receive c 1024) "UTF-8")))
      (a/close! accepted)
      (a/<!! server))))

(defn- tour-gen []
  (println "  (gen/sample (sockets.gen/sockaddr) 3)")
  (doseq [m (tgen/sample (sgen/sockaddr) 3)] (println "   " (pr-str m)))
  (println "  (gen/sample (sockets.gen/fault-schedule) 2)")
  (doseq [m (tgen/sample (sgen/fault-schedule) 2)] (println "   " (pr-str m)))
  (println "  A fault proxy re-chunks traffic as scheduled: see README, \"Property-testing your network code\"."))

(def ^:private extra-steps
  ;; [title fn]: steps that need more than sockets.core
  [["Socket options as a keyword map" tour-options]
   ["Streams: a line protocol over io/reader and io/writer" io-tour/line-protocol]
   ["core.async: an echo served by channels on one event loop" tour-async]
   ["Generators for property-testing network code" tour-gen]])

(defn run
  "Prints the tour. Returns nil."
  []
  (println "sockets: the CHICKEN socket egg's API for Clojure and Java, over libc.")
  (tour-sockets)
  (tour-addresses)
  (tour-stream "TCP echo over IPv4" (s/inet-address "127.0.0.1" 0))
  (tour-stream "TCP echo over IPv6" (s/inet-address "::1" 0))
  (tour-udp)
  (let [dir (.toFile (Files/createTempDirectory "sockets-tour" (make-array FileAttribute 0)))
        path (str dir "/echo.sock")]
    (try (tour-stream "A unix socket exchange" (s/unix-address path))
         (finally (.delete (File. path)) (.delete dir))))
  (doseq [[title f] extra-steps]
    (section title)
    (f))
  (tour-errors)
  (println)
  (println "More: README.md; (require '[sockets.core :as s]) at the REPL.")
  nil)

(defn -main
  "Entry point of `lein run`: with no arguments prints the tour and exits 0; with arguments
  runs the command line (`sockets.cli/-main`: a netcat; `--help` lists the commands) and
  exits with its code."
  [& args]
  (if (seq args)
    (apply cli/-main args)
    (do (run)
        (flush)
        (shutdown-agents)
        (System/exit 0))))

(comment (pp/pprint (run)))
